#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd): accepts every message on 127.0.0.1:PORT and writes each one,
as received, to DIR/NNNN.eml, with the envelope in DIR/NNNN.env. Prints "ready" once listening.

Usage: smtp_sink.py PORT DIR
"""
import asyncio
import os
import sys

try:
    from aiosmtpd.controller import Controller
except ImportError:
    sys.exit("the Python package `aiosmtpd` is missing: run scripts/test.sh, or `pip install aiosmtpd`")


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, f"{self.count:04d}")
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".env", "w") as f:
            f.write(f"{envelope.mail_from}\n{','.join(envelope.rcpt_tos)}\n")
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        # Stops when the test closes our stdin (or kills us).
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
