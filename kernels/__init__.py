"""Real s390x and powerpc Linux kernels under QEMU as the ground truth for the engine."""
