#!/usr/bin/env python3
"""Captures what the real `wg` sends over the UAPI for a set of commands: the seeds of
the `uapi_set` target. Serves /var/run/wireguard/<name>.sock as wireguard-go would
(answers errno=0 to every set), runs each `wg` command against it, and writes each
command's set body (and some sequences of them, blank-line separated) to the directory
given. Needs root (the socket folder) and wireguard-tools."""

import os
import socket
import subprocess
import sys
import tempfile
import threading

NAME = "wgfuzzseed"
SOCKET = f"/var/run/wireguard/{NAME}.sock"


def serve(server, bodies):
    while True:
        conn, _ = server.accept()
        data = b""
        while not data.endswith(b"\n\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        text = data.decode()
        # `wg` first connects and closes, to see that the interface is there.
        if text.startswith("set=1\n"):
            bodies.append(text[len("set=1\n"):].rstrip("\n"))
            conn.sendall(b"errno=0\n\n")
        conn.close()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    os.makedirs("/var/run/wireguard", exist_ok=True)
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(SOCKET)
    server.listen(8)
    bodies = []
    threading.Thread(target=serve, args=(server, bodies), daemon=True).start()

    def key():
        return subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout.strip()

    def pub(private):
        return subprocess.run(["wg", "pubkey"], input=private, capture_output=True, text=True, check=True).stdout.strip()

    tmp = tempfile.mkdtemp()
    private = os.path.join(tmp, "private")
    psk = os.path.join(tmp, "psk")
    with open(private, "w") as f:
        f.write(key())
    with open(psk, "w") as f:
        f.write(subprocess.run(["wg", "genpsk"], capture_output=True, text=True, check=True).stdout)
    peers = [pub(key()) for _ in range(3)]
    conf = os.path.join(tmp, "wg.conf")
    with open(conf, "w") as f:
        f.write(f"[Interface]\nPrivateKey = {open(private).read()}\nListenPort = 51820\nFwMark = 0x77\n")
        f.write(f"[Peer]\nPublicKey = {peers[0]}\nAllowedIPs = 10.99.0.2/32, fd99::2/128\n")
        f.write(f"[Peer]\nPublicKey = {peers[1]}\nPresharedKey = {open(psk).read().strip()}\n"
                "Endpoint = 192.0.2.10:51820\nAllowedIPs = 10.20.0.0/16\nPersistentKeepalive = 25\n")
        f.write(f"[Peer]\nPublicKey = {peers[2]}\nEndpoint = [2001:db8::7]:51821\nAllowedIPs = 0.0.0.0/0, ::/0\n")
    commands = {
        "set-device": ["set", NAME, "private-key", private, "listen-port", "51821", "fwmark", "0x1234"],
        "set-peer": ["set", NAME, "peer", peers[0], "preshared-key", psk, "endpoint", "192.0.2.1:51820",
                     "persistent-keepalive", "25", "allowed-ips", "10.99.0.2/32,fd99::2/128"],
        "set-peer-no-allowed-ips": ["set", NAME, "peer", peers[0], "allowed-ips", ""],
        "set-peer-keepalive-off": ["set", NAME, "peer", peers[1], "persistent-keepalive", "off"],
        "remove-peer": ["set", NAME, "peer", peers[2], "remove"],
        "setconf": ["setconf", NAME, conf],
        "addconf": ["addconf", NAME, conf],
    }
    for name, args in commands.items():
        before = len(bodies)
        subprocess.run(["wg", *args], check=True)
        assert len(bodies) == before + 1, f"wg {' '.join(args)} sent no set"
        with open(os.path.join(out, name), "w") as f:
            f.write(bodies[-1] + "\n")
    by_name = dict(zip(commands, bodies))
    sequences = {
        "setconf-then-set-peer-then-remove": ["setconf", "set-peer", "remove-peer"],
        "setconf-then-take-allowed-ips": ["setconf", "set-peer-no-allowed-ips", "addconf"],
    }
    for name, parts in sequences.items():
        with open(os.path.join(out, name), "w") as f:
            f.write("\n\n".join(by_name[p] for p in parts) + "\n")
    os.unlink(SOCKET)


if __name__ == "__main__":
    main()
