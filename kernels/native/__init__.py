"""Real programs on real s390x and powerpc kernels: guest images, native recordings from the
kernel's own table allocations and frees (kprobes), and the kernel's ``PageTables`` over time."""
