"""An HTTP server on 127.0.0.1:8082 that answers 503 during the first 3 s after it starts, then 200."""

import http.server
import time

START = time.monotonic()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - name fixed by http.server
        self.send_response(503 if time.monotonic() - START < 3 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", 8082), Handler).serve_forever()
