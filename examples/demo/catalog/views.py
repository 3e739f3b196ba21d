from django.shortcuts import render

from catalog.models import Item


def index(request):
    """The home page reads the database: the stack's health check looks for the count."""
    items = Item.objects.all()
    return render(request, "catalog/index.html", {"items": items, "count": items.count()})
