//! The Win32 calls this project makes, all in one place (compiled on
//! Windows only).
//!
//! `unsafe` lives only in `sys`, and most of it here. Each call is a plain
//! FFI call on a handle this module opens and closes itself, with
//! out-parameters that are zero-initialised `repr(C)` structs of the size the
//! API is told; that is the whole soundness argument.

use std::os::windows::io::AsRawHandle;
use std::process::Child;

use windows_sys::Win32::Foundation::{CloseHandle, FILETIME, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
    SetInformationJobObject,
};
use windows_sys::Win32::System::ProcessStatus::{GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    GetProcessHandleCount, GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

use crate::messages::ProcessSample as Sample;

/// A handle closed on drop.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was returned open by the API and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

fn filetime_s(t: &FILETIME) -> f64 {
    // FILETIME counts 100 ns units.
    ((u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)) as f64 / 1e7
}

/// CPU time, working set, thread and handle count of a process.
pub(crate) fn process_sample(pid: u32) -> Option<Sample> {
    // SAFETY: plain call; a null result is checked.
    let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if raw.is_null() {
        return None;
    }
    let process = Handle(raw);
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: four valid out-pointers to FILETIME.
    let ok =
        unsafe { GetProcessTimes(process.0, &mut created, &mut exited, &mut kernel, &mut user) };
    if ok == 0 {
        return None;
    }
    // SAFETY: PROCESS_MEMORY_COUNTERS is plain data; its size is passed.
    let mut memory: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    memory.cb = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    // SAFETY: valid handle, out-pointer and size.
    let ok = unsafe { GetProcessMemoryInfo(process.0, &mut memory, memory.cb) };
    let mut handles = 0u32;
    // SAFETY: valid handle (opened with PROCESS_QUERY_LIMITED_INFORMATION,
    // which this call accepts) and a valid out-pointer.
    let counted = unsafe { GetProcessHandleCount(process.0, &mut handles) } != 0;
    // A live Windows process always holds handles (its image, its console),
    // so zero means the count is not kept: Wine's GetProcessHandleCount is a
    // stub that succeeds with 0. Report "unknown" rather than a false zero.
    let counted = counted && handles > 0;
    Some(Sample {
        cpu_s: filetime_s(&kernel) + filetime_s(&user),
        rss_bytes: if ok != 0 {
            memory.WorkingSetSize as u64
        } else {
            0
        },
        threads: thread_count(pid).unwrap_or(0),
        voluntary_ctx: None,
        involuntary_ctx: None,
        fds: counted.then_some(u64::from(handles)),
    })
}

/// Threads of a process, from a ToolHelp snapshot of all processes.
fn thread_count(pid: u32) -> Option<u64> {
    // SAFETY: plain call; an invalid handle is checked.
    let raw = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if raw == INVALID_HANDLE_VALUE || raw.is_null() {
        return None;
    }
    let snapshot = Handle(raw);
    // SAFETY: PROCESSENTRY32W is plain data; dwSize is set as the API requires.
    let mut entry: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
    // SAFETY: valid snapshot handle and entry.
    let mut more = unsafe { Process32FirstW(snapshot.0, &mut entry) } != 0;
    while more {
        if entry.th32ProcessID == pid {
            return Some(u64::from(entry.cntThreads));
        }
        // SAFETY: as above.
        more = unsafe { Process32NextW(snapshot.0, &mut entry) } != 0;
    }
    None
}

/// A job object that kills every process in it when startup's handle closes,
/// which the OS does when startup exits for any reason.
pub(crate) struct KillOnCloseJob(Handle);

// SAFETY: a job handle may be used from any thread.
unsafe impl Send for KillOnCloseJob {}

impl KillOnCloseJob {
    /// Creates the job, or `None` if Windows refuses (children then still stop
    /// when their stdin closes).
    pub(crate) fn new() -> Option<KillOnCloseJob> {
        // SAFETY: null attributes and name are allowed.
        let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if raw.is_null() {
            return None;
        }
        let job = Handle(raw);
        // SAFETY: plain data, zero is a valid start.
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: valid handle, pointer and size for this information class.
        let ok = unsafe {
            SetInformationJobObject(
                job.0,
                JobObjectExtendedLimitInformation,
                &info as *const _ as *const core::ffi::c_void,
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        (ok != 0).then_some(KillOnCloseJob(job))
    }

    /// Puts a child in the job.
    pub(crate) fn assign(&self, child: &Child) -> bool {
        // SAFETY: both handles are valid for the duration of the call.
        unsafe { AssignProcessToJobObject(self.0.0, child.as_raw_handle() as HANDLE) != 0 }
    }
}

/// Pins the calling thread to one CPU (of the first 64).
pub(crate) fn pin_current_thread(cpu: usize) -> bool {
    use windows_sys::Win32::System::Threading::{GetCurrentThread, SetThreadAffinityMask};
    if cpu >= usize::BITS as usize {
        return false;
    }
    // SAFETY: GetCurrentThread returns a pseudo-handle that needs no closing.
    unsafe { SetThreadAffinityMask(GetCurrentThread(), 1usize << cpu) != 0 }
}

/// Runs the calling thread below normal priority.
pub(crate) fn lower_current_thread_priority() -> bool {
    use windows_sys::Win32::System::Threading::{
        GetCurrentThread, SetThreadPriority, THREAD_PRIORITY_BELOW_NORMAL,
    };
    // SAFETY: GetCurrentThread returns a pseudo-handle that needs no closing.
    unsafe { SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL) != 0 }
}

/// Runs the calling thread at the lowest priority, below the servers' link
/// threads (see `affinity::lower_current_thread_below_servers`).
pub(crate) fn lowest_current_thread_priority() -> bool {
    use windows_sys::Win32::System::Threading::{
        GetCurrentThread, SetThreadPriority, THREAD_PRIORITY_LOWEST,
    };
    // SAFETY: GetCurrentThread returns a pseudo-handle that needs no closing.
    unsafe { SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_LOWEST) != 0 }
}
