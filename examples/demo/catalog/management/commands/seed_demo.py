"""Load the demo items; safe to run again (existing names are left alone)."""

from django.core.management.base import BaseCommand

from catalog.models import Item

DEMO_ITEMS = [
    ("Stethoscope", "Listens to the heart of the stack."),
    ("Thermometer", "Takes the temperature of a release."),
    ("Pulse oximeter", "Counts what reaches the database."),
]


class Command(BaseCommand):
    help = "Create the demo catalog items that do not exist yet."

    def handle(self, *args, **options):
        created = 0
        for name, description in DEMO_ITEMS:
            item, was_created = Item.objects.get_or_create(name=name, defaults={"description": description})
            created += was_created
            self.stdout.write(f"{item.name}: {'created' if was_created else 'exists'}")
        self.stdout.write(f"seeded {created} new items, {Item.objects.count()} in total")
