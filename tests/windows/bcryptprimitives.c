/* A stand-in for Windows' bcryptprimitives.dll, for the wine load check only: never shipped.
 *
 * Rust's standard library for x86_64-pc-windows-gnu (Windows 10 and newer) draws its random
 * numbers from ProcessPrng, which Windows exports from bcryptprimitives.dll, a system DLL on every
 * Windows that target supports. Debian 12's wine 8.0 has no bcryptprimitives.dll at all (wine
 * added it in a later release), so without this stand-in the loader fails with "module not
 * found" before our DLL's own code runs. `cargo xtask build --windows` compiles this file and
 * puts it into the throwaway wine prefix's system32 only when that wine lacks the DLL. It forwards
 * to RtlGenRandom (advapi32's SystemFunction036), the generator ProcessPrng replaced. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
