"""Write a large C file for the compiler recording: many functions with loops and switches."""

import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
out = ["#include <stdint.h>"]
for i in range(n):
    out.append(f"uint64_t f{i}(uint64_t x) {{ uint64_t a = {i};")
    out.append("  for (int k = 0; k < (int)(x & 63); k++) { a = a * 6364136223846793005ULL + k; ")
    out.append(f"    switch ((a >> 7) & 7) {{ case 0: a ^= {i}; break; case 1: a += x; break;")
    out.append("      case 2: a -= k; break; case 3: a *= 3; break; default: a >>= 1; } }")
    out.append("  return a; }")
out.append("uint64_t all(uint64_t x) { uint64_t s = 0;")
out += [f"  s += f{i}(x + {i});" for i in range(n)]
out.append("  return s; }")
print("\n".join(out))
