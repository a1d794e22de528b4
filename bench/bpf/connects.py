# Bench workload: on each line on stdin, N TCP connects to 127.0.0.1:PORT (each
# closed at once); prints the elapsed milliseconds. Exits when stdin closes.
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in sys.stdin:
    t = time.perf_counter()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.close()
    print((time.perf_counter() - t) * 1000, flush=True)
