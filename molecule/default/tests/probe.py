"""The site as a client on the host sees it: the default scenario's tests share this probe."""

# The host has no curl: Debian's python3 asks, without following redirects or checking the
# sandbox's self-signed certificate. Prints "<status> <Location> <body>".
FETCH = """python3 -c '
import ssl, sys, urllib.request as u
class Keep(u.HTTPRedirectHandler):
    def redirect_request(self, *a): return None
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
opener = u.build_opener(Keep, u.HTTPSHandler(context=ctx))
try: r = opener.open(u.Request(sys.argv[1], headers={"Host": "sandbox.test"}))
except u.HTTPError as e: r = e
print(r.status, r.headers.get("Location"), r.read().decode())
' """


def fetch(host, url):
    """(status, Location header, body) of `url` asked on the testinfra `host`."""
    status, location, body = host.check_output(FETCH + url).split(" ", 2)
    return int(status), location, body
