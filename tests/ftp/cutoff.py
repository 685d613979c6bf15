"""Cut an FTP upload off half-way, as a broken network or a client would (used by
tests/ftp_rename.rs). Python's ftplib is a real FTP client; the socket options make the cuts.

usage: cutoff.py PORT USER DIR NAME FILE MODE   (the password comes on stdin)
MODE:
  rst      send half the file, then reset the data connection (RST)
  abor     send half the file, ABOR on the control connection, then reset the data
           connection
  control  send half the file, drop the control connection, then reset the data connection
  fin      send half the file and close the data connection cleanly (FIN): the one cut a
           plain STOR cannot tell from a finished upload
Prints the final reply the server gave on the control connection ("none" when it could not).
"""
import ftplib
import socket
import struct
import sys

port, user, folder, name, path, mode = sys.argv[1:7]
password = sys.stdin.readline().rstrip("\n")
data = open(path, "rb").read()
half = data[: len(data) // 2]

ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(port), timeout=30)
ftp.login(user, password)
ftp.voidcmd("TYPE I")
ftp.cwd(folder)
conn = ftp.transfercmd("STOR " + name)
conn.sendall(half)


def reset(sock):
    # SO_LINGER on, 0 s: close() sends RST instead of FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


replies = []


def read_replies():
    # Every reply the server sends now, until it has said all (2 s of silence).
    ftp.sock.settimeout(2)
    while True:
        try:
            replies.append(ftp.getline())
        except (OSError, EOFError):
            return


try:
    if mode == "rst":
        reset(conn)
        read_replies()
    elif mode == "abor":
        # ABOR as a plain command line (ftplib's abort() sends it as urgent data, which
        # drops its last byte on Linux), then the data connection reset: the FTP library
        # handles ABOR only once the data connection has ended.
        ftp.sock.sendall(b"ABOR\r\n")
        reset(conn)
        read_replies()
    elif mode == "control":
        reset(ftp.sock)
        reset(conn)
    elif mode == "fin":
        conn.close()
        read_replies()
    else:
        sys.exit("unknown mode " + mode)
finally:
    # Whatever happened above, the data connection never ends cleanly.
    try:
        reset(conn)
    except OSError:
        pass
print(" | ".join(r for r in replies if r) or "none")
