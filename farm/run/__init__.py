"""How a sweep runs: packing rows into tasks, the backends that run them (serial, Ray), and
the driver that feeds the results store."""
