/*
 * Stand-in for Windows' bcryptprimitives.dll, used ONLY when running the
 * Windows build of mass_connect under Wine (scripts/windows-test.sh).
 *
 * Why: every Rust std program for x86_64-pc-windows-gnu (Rust >= 1.78)
 * imports ProcessPrng from bcryptprimitives.dll to seed HashMap keys etc.
 * Real Windows (10 and later) ships that DLL; Wine 8.0 (Debian 12) does not,
 * so each .exe dies at load time with exit code 53 and no message
 * (WINEDEBUG=err+module shows the missing import).
 *
 * This DLL exports ProcessPrng on top of advapi32's RtlGenRandom
 * (exported as SystemFunction036), which Wine does implement.  The script
 * builds it with x86_64-w64-mingw32-gcc -shared (exports listed in
 * processprng.def; x64 has no stdcall name decoration) and copies it into
 * the Wine prefix's drive_c/windows/system32.  Not needed on real Windows
 * and never shipped.
 */
#include <windows.h>

/* RtlGenRandom: advapi32!SystemFunction036 */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length: feed large requests in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst; (void)reason; (void)reserved;
    return TRUE;
}
