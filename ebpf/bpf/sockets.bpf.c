// SPDX-License-Identifier: GPL-2.0
/* procflow's kernel socket events: which process opened each TCP
 * connection (connect, accept) and sent each UDP socket's first datagram,
 * with the full 5-tuple, and which programs the processes run (exec,
 * fork). Only stable tracepoints: no kprobes, no fentry.
 *
 * Every event goes to one ring buffer; an event that finds it full is
 * counted in `lost` (per CPU) and dropped. Sockets are found through the
 * calling process's file table from the fd a syscall names or returns. */

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define EINPROGRESS 115

/* Event kinds; the layout of `struct sock_event` and `struct exec_event`
 * is read field by field in ebpf/src/event.rs. */
#define EV_CONNECT 1
#define EV_ACCEPT 2
#define EV_DATAGRAM 3
#define EV_CLOSE 4
#define EV_EXEC 5
#define EV_FORK 6

#define COMM_LEN 16
#define PATH_LEN 256
#define ARGS_LEN 256

/* sock_event.flags */
#define EXE_DELETED 1

struct sock_event {
	__u8 kind;
	__u8 family;
	__u8 protocol;
	__u8 flags;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 netns;
	__u64 ts;
	__u64 cgroup;
	__u16 sport;
	__u16 dport;
	__u32 pad2;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[COMM_LEN];
};

struct exec_event {
	__u8 kind;
	__u8 pad[3];
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u64 ts;
	__u16 path_len;
	__u16 args_len;
	__u32 pad2;
	char comm[COMM_LEN];
	char path[PATH_LEN];
	char args[ARGS_LEN];
};

/* Sized by the loader (`set_max_entries`). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Sockets whose open was reported: their close is reported too. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} tracked SEC(".maps");

/* UDP sockets whose first datagram (or connect) to a peer was reported.
 * UDP has no close to watch, and a freed socket's memory is soon reused:
 * the key holds the ports and the peer too, so a new socket at the same
 * address is new here. */
struct udp_key {
	__u64 sk;
	__u16 sport;
	__u16 dport;
	__u32 pad;
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct udp_key);
	__type(value, __u8);
} udp_seen SEC(".maps");

static __always_inline void udp_key_of(struct udp_key *k, struct sock *sk, struct sock_event *e)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->sk = (__u64)sk;
	k->sport = e->sport;
	k->dport = e->dport;
	__builtin_memcpy(k->daddr, e->daddr, 16);
}

/* A syscall in flight, by thread: the fd and, for sends, the address. */
struct pending {
	__u64 fd;
	__u8 addr[28];
	__u32 has_addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending);
} inflight SEC(".maps");

/* Tracepoint records (layouts from the kernel's format files; stable). */
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

struct set_state_ctx {
	__u64 common;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

struct exec_ctx {
	__u64 common;
	__u32 filename_loc;
	pid_t pid;
	pid_t old_pid;
};

struct fork_ctx {
	__u64 common;
	__u32 parent_comm_loc;
	pid_t parent_pid;
	__u32 child_comm_loc;
	pid_t child_pid;
};

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		*n += 1;
}

/* A zeroed socket record of `kind` in the ring buffer, or NULL (counted
 * as lost) when the buffer is full. */
static __always_inline struct sock_event *new_sock_event(__u8 kind)
{
	struct sock_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = kind;
	return e;
}

static __always_inline __u32 parent_of(struct task_struct *task)
{
	return BPF_CORE_READ(task, real_parent, tgid);
}

/* The socket behind `fd` in the current process, or NULL. */
static __always_inline struct sock *sock_of_fd(__u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return 0;
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if (fd >= max)
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	/* Only a socket's file is its socket's file. */
	if (BPF_CORE_READ(sock, file) != file)
		return 0;
	return BPF_CORE_READ(sock, sk);
}

/* Fills the process part of `e` from the current task. */
static __always_inline void fill_process(struct sock_event *e)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->ppid = parent_of(task);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	e->cgroup = bpf_get_current_cgroup_id();
	e->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* The program's file has no name left: deleted since it started. */
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	if (exe && BPF_CORE_READ(exe, f_inode, i_nlink) == 0)
		e->flags |= EXE_DELETED;
}

/* Fills the socket part of `e` from `sk`; false when it is not an
 * internet TCP or UDP socket. */
static __always_inline bool fill_socket(struct sock_event *e, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	e->family = family;
	e->protocol = proto;
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(e->saddr, &s, 4);
		__builtin_memcpy(e->daddr, &d, 4);
	} else {
		bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	return 1;
}

static __always_inline int report(__u8 kind, struct sock *sk)
{
	struct sock_event *e = new_sock_event(kind);
	if (!e)
		return 0;
	if (!fill_socket(e, sk)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	fill_process(e);
	__u64 key = (__u64)sk;
	__u8 one = 1;
	/* A socket already closed (a refused connect on loopback) has no
	 * close to come: watching its address would report the next socket
	 * the memory is reused for. */
	if (e->protocol == IPPROTO_TCP) {
		if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_CLOSE)
			bpf_map_update_elem(&tracked, &key, &one, BPF_ANY);
	} else {
		struct udp_key k;
		udp_key_of(&k, sk, e);
		bpf_map_update_elem(&udp_seen, &k, &one, BPF_ANY);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline void remember(__u64 fd, const void *addr, __u32 addr_len)
{
	struct pending p = {};
	p.fd = fd;
	if (addr && addr_len >= 8) {
		if (addr_len > sizeof(p.addr))
			addr_len = sizeof(p.addr);
		if (!bpf_probe_read_user(p.addr, sizeof(p.addr), addr))
			p.has_addr = 1;
	}
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&inflight, &id, &p, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct sys_enter_ctx *ctx)
{
	remember(ctx->args[0], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&inflight, &id);
	if (!p)
		return 0;
	__u64 fd = p->fd;
	bpf_map_delete_elem(&inflight, &id);
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS)
		return 0;
	struct sock *sk = sock_of_fd(fd);
	if (sk)
		report(EV_CONNECT, sk);
	return 0;
}

static __always_inline int accepted(struct sys_exit_ctx *ctx)
{
	if (ctx->ret < 0)
		return 0;
	struct sock *sk = sock_of_fd(ctx->ret);
	if (sk)
		report(EV_ACCEPT, sk);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct sys_exit_ctx *ctx)
{
	return accepted(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct sys_exit_ctx *ctx)
{
	return accepted(ctx);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct sys_enter_ctx *ctx)
{
	remember(ctx->args[0], (const void *)ctx->args[4], ctx->args[5]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct sys_enter_ctx *ctx)
{
	struct user_msghdr msg = {};
	const void *name = 0;
	__u32 len = 0;
	if (!bpf_probe_read_user(&msg, sizeof(msg), (const void *)ctx->args[1])) {
		name = msg.msg_name;
		len = msg.msg_namelen;
	}
	remember(ctx->args[0], name, len);
	return 0;
}

/* The first datagram a UDP socket sends: the local port is bound by now;
 * the peer is the address the call named, or the connected one. */
static __always_inline int sent(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&inflight, &id);
	if (!p)
		return 0;
	struct pending sent = *p;
	bpf_map_delete_elem(&inflight, &id);
	if (ctx->ret < 0)
		return 0;
	struct sock *sk = sock_of_fd(sent.fd);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return 0;
	struct sock_event *e = new_sock_event(EV_DATAGRAM);
	if (!e)
		return 0;
	if (!fill_socket(e, sk)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	if (sent.has_addr) {
		__u16 family = *(__u16 *)sent.addr;
		__u16 port = *(__u16 *)(sent.addr + 2);
		if (family == AF_INET) {
			e->dport = __builtin_bswap16(port);
			__builtin_memcpy(e->daddr, sent.addr + 4, 4);
		} else if (family == AF_INET6) {
			e->dport = __builtin_bswap16(port);
			__builtin_memcpy(e->daddr, sent.addr + 8, 16);
		}
	}
	struct udp_key k;
	udp_key_of(&k, sk, e);
	if (bpf_map_lookup_elem(&udp_seen, &k)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	fill_process(e);
	__u8 one = 1;
	bpf_map_update_elem(&udp_seen, &k, &one, BPF_ANY);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct sys_exit_ctx *ctx)
{
	return sent(ctx);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct sys_exit_ctx *ctx)
{
	return sent(ctx);
}

/* A reported TCP socket closing: its lifetime ends. The record carries
 * the 5-tuple; this may run in any context, so no process is read. */
SEC("tracepoint/sock/inet_sock_set_state")
int set_state(struct set_state_ctx *ctx)
{
	if (ctx->newstate != TCP_CLOSE || ctx->protocol != IPPROTO_TCP)
		return 0;
	__u64 key = (__u64)ctx->skaddr;
	if (!bpf_map_lookup_elem(&tracked, &key))
		return 0;
	bpf_map_delete_elem(&tracked, &key);
	/* A listener at that address (reused memory) is no connection. */
	if (ctx->oldstate == TCP_LISTEN || ctx->dport == 0)
		return 0;
	struct sock_event *e = new_sock_event(EV_CLOSE);
	if (!e)
		return 0;
	e->family = ctx->family;
	e->protocol = IPPROTO_TCP;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	if (ctx->family == AF_INET) {
		__builtin_memcpy(e->saddr, ctx->saddr, 4);
		__builtin_memcpy(e->daddr, ctx->daddr, 4);
	} else {
		__builtin_memcpy(e->saddr, ctx->saddr_v6, 16);
		__builtin_memcpy(e->daddr, ctx->daddr_v6, 16);
	}
	e->ts = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int process_exec(struct exec_ctx *ctx)
{
	struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->kind = EV_EXEC;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = parent_of(task);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__u32 off = ctx->filename_loc & 0xFFFF;
	long n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), (void *)ctx + off);
	e->path_len = n > 0 ? n - 1 : 0;
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	unsigned long len = end > start ? end - start : 0;
	if (len > sizeof(e->args))
		len = sizeof(e->args);
	if (len && bpf_probe_read_user(e->args, len & (ARGS_LEN - 1 | ARGS_LEN), (void *)start) == 0)
		e->args_len = len;
	else
		e->args_len = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int process_fork(struct fork_ctx *ctx)
{
	struct sock_event *e = new_sock_event(EV_FORK);
	if (!e)
		return 0;
	e->pid = ctx->child_pid;
	e->ppid = bpf_get_current_pid_tgid() >> 32;
	e->tid = ctx->parent_pid;
	e->ts = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
