# Bench workload: on each line on stdin, N TCP connects to 127.0.0.1:PORT (each
# closed at once, with a reset: no TIME_WAIT, whose 4-tuple a later connect
# can collide with and wait out a 1 s SYN retransmit); prints the elapsed
# milliseconds. Exits when stdin closes.
import socket, struct, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in sys.stdin:
    t = time.perf_counter()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    print((time.perf_counter() - t) * 1000, flush=True)
