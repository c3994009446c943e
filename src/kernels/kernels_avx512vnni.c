/* kernels_avx512vnni.c — the AVX-512 table with VNNI: kernels_avx512.c compiled with
 * -mavx512vnni and KB_VNNI, which makes the int16 dot of the GEMV one vpdpwssd instead of pmaddwd
 * + add (Makefile, per-file flags; matmul.c uses it when cpuid reports avx512vnni). Tested by
 * tests/test_kernels.c like every table; measured in docs/PERFORMANCE.md "AVX-512".
 */
#define KB_VNNI 1
#define KB_FN(name) name##_avx512vnni
#include "kernels_avx512.c"
