"""An HTTP server on 127.0.0.1:8082 that answers 503 for 3 s from its first request, then 200.

From the first request, not from its start: the gate's first probe meets the 503s however long
Ansible takes to start the module after the restart.
"""

import http.server
import time

FIRST = []


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - name fixed by http.server
        if not FIRST:
            FIRST.append(time.monotonic())
        self.send_response(503 if time.monotonic() - FIRST[0] < 3 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", 8082), Handler).serve_forever()
