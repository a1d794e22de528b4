# Bench workload: on each line on stdin, N reads of 4 KiB from FILE (pread at
# rotating offsets, so every call is a real read syscall); prints the elapsed
# milliseconds. Exits when stdin closes.
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
for _ in sys.stdin:
    t = time.perf_counter()
    off = 0
    for _ in range(n):
        os.pread(fd, 4096, off)
        off = (off + 4096) % size
    print((time.perf_counter() - t) * 1000, flush=True)
