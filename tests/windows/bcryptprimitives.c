/*
 * A stand-in for Windows' bcryptprimitives.dll, for running wiregate's Windows builds under
 * Wine 8 only. Rust's standard library on Windows takes its randomness from
 * ProcessPrng in bcryptprimitives.dll, which Windows 10 and later have and Wine 8 lacks;
 * this DLL gives ProcessPrng over RtlGenRandom (advapi32's SystemFunction036), which Wine
 * has. Never shipped: tests/windows/run puts it beside the test binaries.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
