//! Tracepoint arguments that may be NULL although their type does not say
//! so: the kernel keeps a table of them (`raw_tp_null_args`) and types
//! such an argument of a tp_btf program `trusted_ptr_or_null_`, which must
//! be checked before it is read through.
//!
//! Only the entries confirmed on this project's kernel (6.18, x86-64) are
//! here, each by loading a program that reads through the argument
//! unchecked (refused with `R1 invalid mem access 'trusted_ptr_or_null_'`);
//! the kernel's entries for tracepoints this kernel does not have (afs,
//! cachefiles, netfs, rxrpc, sunrpc, ...) are not, nor the arguments the
//! kernel turns into numbers because they may hold an error code.

/// Tracepoint name and the indices of its arguments that may be NULL.
const NULLABLE: &[(&str, &[usize])] = &[
    ("break_lease_block", &[1]),
    ("break_lease_noblock", &[1]),
    ("break_lease_unblock", &[1]),
    ("ext4_mballoc_discard", &[1]),
    ("ext4_mballoc_free", &[1]),
    ("fcntl_setlk", &[1]),
    ("fib_table_lookup", &[2]),
    ("flock_lock_inode", &[1]),
    ("folio_wait_writeback", &[1]),
    ("generic_delete_lease", &[1]),
    ("kfree_skb", &[3]),
    ("locks_remove_posix", &[1]),
    ("mm_collapse_huge_page_isolate", &[0]),
    ("mm_khugepaged_collapse_file", &[1]),
    ("mm_khugepaged_scan_file", &[1]),
    ("mm_khugepaged_scan_pmd", &[1]),
    ("mm_page_alloc", &[0]),
    ("mm_page_alloc_zone_locked", &[0]),
    ("mm_page_pcpu_drain", &[0]),
    ("posix_lock_inode", &[1]),
    ("qdisc_dequeue", &[3]),
    ("sched_pi_setprio", &[1]),
    ("sched_stick_numa", &[2]),
    ("sched_swap_numa", &[2]),
    ("tcp_send_reset", &[0, 1]),
    ("tcp_sendmsg_locked", &[2]),
    ("time_out_leases", &[1]),
    ("tmigr_update_events", &[0]),
    ("writeback_dirty_folio", &[1]),
];

/// Whether argument `arg` of the tracepoint `name` may be NULL.
pub(crate) fn may_be_null(name: &str, arg: usize) -> bool {
    NULLABLE
        .iter()
        .any(|(tp, args)| *tp == name && args.contains(&arg))
}
