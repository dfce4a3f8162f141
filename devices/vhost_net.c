#include "vhost_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices/virtio.h"
#include "vmm/log.h"

int vhost_net_open(struct vhost_net *vh, const char *tap, const struct guest_mem *mem)
{
	memset(vh, 0, sizeof(*vh));
	vh->call_fd[0] = vh->call_fd[1] = -1;
	vh->fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
	if (vh->fd < 0) {
		int e = errno;
		log_error("--net tap=%s,vhost=on: /dev/vhost-net: %s%s", tap, strerror(e),
			  e == ENOENT ? " (modprobe vhost_net)" : "");
		return -1;
	}
	if (ioctl(vh->fd, VHOST_SET_OWNER) < 0 ||
	    ioctl(vh->fd, VHOST_GET_FEATURES, &vh->features) < 0) {
		log_error("--net tap=%s,vhost=on: vhost-net setup: %s", tap, strerror(errno));
		return -1;
	}
	if ((vh->features & (1ULL << VIRTIO_F_VERSION_1)) == 0) {
		log_error("--net tap=%s,vhost=on: this kernel's vhost-net lacks VIRTIO_F_VERSION_1",
			  tap);
		return -1;
	}
	struct vhost_memory *m =
	    calloc(1, sizeof(*m) + (size_t)mem->nregions * sizeof(struct vhost_memory_region));
	if (!m) {
		log_error("out of memory");
		return -1;
	}
	m->nregions = (uint32_t)mem->nregions;
	for (int i = 0; i < mem->nregions; i++) {
		m->regions[i].guest_phys_addr = mem->regions[i].gpa;
		m->regions[i].memory_size = mem->regions[i].size;
		m->regions[i].userspace_addr = (uint64_t)(uintptr_t)mem->regions[i].host;
	}
	int r = ioctl(vh->fd, VHOST_SET_MEM_TABLE, m);
	free(m);
	if (r < 0) {
		log_error("--net tap=%s,vhost=on: VHOST_SET_MEM_TABLE: %s", tap, strerror(errno));
		return -1;
	}
	for (int q = 0; q < VHOST_NET_QUEUES; q++) {
		vh->call_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vh->call_fd[q] < 0) {
			log_error("--net tap=%s,vhost=on: eventfd: %s", tap, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int vring_setup(struct vhost_net *vh, const struct guest_mem *mem, unsigned q,
		       const struct virtq *vq, uint16_t base, int kick_fd, int call_fd)
{
	/* The ring sizes as the split ring lays them out (virtio 1.2, 2.7); gmem_ptr checks that
	 * each lies wholly in RAM, as virtq_enable did. */
	void *desc = gmem_ptr(mem, vq->desc_gpa, 16ULL * vq->size);
	void *avail = gmem_ptr(mem, vq->avail_gpa, 6 + 2ULL * vq->size);
	void *used = gmem_ptr(mem, vq->used_gpa, 6 + 8ULL * vq->size);
	if (!desc || !avail || !used)
		return -1;
	struct vhost_vring_state num = {.index = q, .num = vq->size};
	struct vhost_vring_state b = {.index = q, .num = base};
	struct vhost_vring_addr addr = {
	    .index = q,
	    .desc_user_addr = (uint64_t)(uintptr_t)desc,
	    .avail_user_addr = (uint64_t)(uintptr_t)avail,
	    .used_user_addr = (uint64_t)(uintptr_t)used,
	};
	struct vhost_vring_file kick = {.index = q, .fd = kick_fd};
	struct vhost_vring_file call = {.index = q, .fd = call_fd};
	if (ioctl(vh->fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(vh->fd, VHOST_SET_VRING_BASE, &b) < 0 ||
	    ioctl(vh->fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
	    ioctl(vh->fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(vh->fd, VHOST_SET_VRING_CALL, &call) < 0)
		return -1;
	return 0;
}

int vhost_net_start(struct vhost_net *vh, const struct guest_mem *mem, const struct virtq *vqs,
		    const uint16_t *base, const int *kick_fd, const int *call_fd, uint64_t features,
		    int tap_fd)
{
	uint64_t f = features;
	if (ioctl(vh->fd, VHOST_SET_FEATURES, &f) < 0) {
		log_warn_limited(&vh->log, "vhost-net: VHOST_SET_FEATURES 0x%llx: %s",
				 (unsigned long long)f, strerror(errno));
		return -1;
	}
	for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
		if (vring_setup(vh, mem, q, &vqs[q], base[q], kick_fd[q], call_fd[q]) < 0) {
			log_warn_limited(&vh->log, "vhost-net: queue %u setup: %s", q,
					 strerror(errno));
			return -1;
		}
	}
	vh->running = true;
	for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
		struct vhost_vring_file backend = {.index = q, .fd = tap_fd};
		if (ioctl(vh->fd, VHOST_NET_SET_BACKEND, &backend) < 0) {
			log_warn_limited(&vh->log, "vhost-net: attaching the TAP to queue %u: %s",
					 q, strerror(errno));
			vhost_net_stop(vh);
			return -1;
		}
	}
	return 0;
}

void vhost_net_set_call(struct vhost_net *vh, const int *call_fd)
{
	for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
		struct vhost_vring_file call = {.index = q, .fd = call_fd[q]};
		if (ioctl(vh->fd, VHOST_SET_VRING_CALL, &call) < 0)
			log_warn_limited(&vh->log, "vhost-net: queue %u interrupt eventfd: %s", q,
					 strerror(errno));
	}
}

void vhost_net_stop(struct vhost_net *vh)
{
	if (!vh->running)
		return;
	for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
		struct vhost_vring_file backend = {.index = q, .fd = -1};
		struct vhost_vring_state state = {.index = q};
		/* Detaching the backend flushes the worker; reading the base stops the ring. */
		if (ioctl(vh->fd, VHOST_NET_SET_BACKEND, &backend) < 0 ||
		    ioctl(vh->fd, VHOST_GET_VRING_BASE, &state) < 0)
			log_warn_limited(&vh->log, "vhost-net: stopping queue %u: %s", q,
					 strerror(errno));
	}
	vh->running = false;
}

int vhost_net_set_backend(struct vhost_net *vh, int tap_fd)
{
	for (unsigned q = 0; q < VHOST_NET_QUEUES && vh->running; q++) {
		struct vhost_vring_file backend = {.index = q, .fd = tap_fd};
		if (ioctl(vh->fd, VHOST_NET_SET_BACKEND, &backend) < 0) {
			log_warn_limited(&vh->log, "vhost-net: %s the TAP on queue %u: %s",
					 tap_fd < 0 ? "detaching" : "attaching", q,
					 strerror(errno));
			return -1;
		}
	}
	return 0;
}

void vhost_net_close(struct vhost_net *vh)
{
	vhost_net_stop(vh);
	for (int q = 0; q < VHOST_NET_QUEUES; q++)
		if (vh->call_fd[q] >= 0)
			close(vh->call_fd[q]);
	if (vh->fd >= 0)
		close(vh->fd);
	vh->fd = vh->call_fd[0] = vh->call_fd[1] = -1;
}
