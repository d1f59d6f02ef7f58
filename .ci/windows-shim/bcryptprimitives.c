/*
 * For the test environment only (Wine 8): Rust's standard library on Windows imports
 * ProcessPrng from bcryptprimitives.dll, which real Windows 10 and 11 have and Wine 8 lacks.
 * This stands in for it over RtlGenRandom (advapi32's SystemFunction036). Never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
