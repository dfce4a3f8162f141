#define _GNU_SOURCE /* asprintf */
#include "vm.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cpuid.h"
#include "devices/keymap.h"
#include "loader/acpi.h"
#include "loader/kernel.h"
#include "loader/mptable.h"
#include "loader/x86_boot.h"
#include "log.h"
#include "screendump.h"
#include "timeline.h"

/* The POST diagnostic port: Linux writes it as an I/O delay, thousands of times during boot. */
#define PORT_POST_DELAY 0x80

static void notify(int fd)
{
	eventfd_write(fd, 1); /* fails only on overflow, which still leaves it readable */
}

static bool console_tx(void *opaque, uint8_t byte)
{
	struct vm *vm = opaque;
	return console_out_write(&vm->console_out, &byte, 1) == 1;
}

/* The console output ring has room again after it refused a byte. */
static void console_room(void *opaque)
{
	struct vm *vm = opaque;
	serial_tx_ready(&vm->serial);
}

static void serial_irq(void *opaque, bool level)
{
	struct vm *vm = opaque;
	kvm_irq_line(&vm->kvm, SERIAL_COM1_IRQ, level);
}

static void serial_rx_ready(void *opaque)
{
	struct vm *vm = opaque;
	notify(vm->rx_ready_fd);
}

static const struct serial_ops console_serial_ops = {
    .tx = console_tx,
    .set_irq = serial_irq,
    .rx_ready = serial_rx_ready,
};

static void i8042_irq(void *opaque, bool level)
{
	struct vm *vm = opaque;
	kvm_irq_line(&vm->kvm, I8042_KBD_IRQ, level);
}

static void i8042_reset_request(void *opaque)
{
	log_debug("guest reset through the i8042 (reboot=k)");
	vm_request_reset(opaque);
}

/* reboot=pci, and reboot=acpi through the FADT's RESET_REG. */
static void reset_control_request(void *opaque)
{
	log_debug("guest reset through the reset control register (0xCF9)");
	vm_request_reset(opaque);
}

static const struct i8042_ops vm_i8042_ops = {.set_irq = i8042_irq, .reset = i8042_reset_request};

static void acpi_sci(void *opaque, bool level)
{
	struct vm *vm = opaque;
	kvm_irq_line(&vm->kvm, ACPI_SCI_IRQ, level);
}

/* SLP_EN from a vCPU: \_S5 is off, as if the guest had pulled the plug after its shutdown. */
static void acpi_sleep(void *opaque, unsigned slp_typ)
{
	struct vm *vm = opaque;
	if (slp_typ == ACPI_S5_SLP_TYP) {
		log_debug("guest powered off (ACPI S5)");
		vm_request_stop(vm, VM_STOP_SHUTDOWN);
	} else {
		static _Atomic bool said;
		if (!atomic_exchange(&said, true))
			log_warn("the guest asked for ACPI sleep type %u, which kvmm does not have "
				 "(logged once)",
				 slp_typ);
	}
}

static const struct acpi_pm_ops vm_acpi_pm_ops = {.set_sci = acpi_sci, .sleep = acpi_sleep};

static void add_device(struct vm *vm, const char *name, void (*reset)(void *), void *dev)
{
	/* VM_MAX_DEVICES is sized for everything vm_create adds; overflowing it is our bug. */
	if (vm->ndevices >= VM_MAX_DEVICES)
		abort();
	vm->devices[vm->ndevices++] = (struct vm_device){name, reset, dev};
}

static void reset_serial(void *dev)
{
	serial_reset(dev);
}
static void reset_i8042(void *dev)
{
	i8042_reset(dev);
}
static void reset_boot_timer(void *dev)
{
	boot_timer_reset(dev);
}
static void reset_rtc(void *dev)
{
	rtc_reset(dev);
}
static void reset_acpi_pm(void *dev)
{
	acpi_pm_reset(dev);
}
static void reset_pci(void *dev)
{
	pci_bus_reset(dev);
}
static void reset_framebuffer(void *dev)
{
	framebuffer_reset(dev);
}
static void reset_virtio(void *dev)
{
	virtio_dev_reset(dev);
}

/* Where virtio-mmio device n sits: one page each from VIRTIO_MMIO_BASE. */
static uint64_t mmio_base(int n)
{
	return VIRTIO_MMIO_BASE + (uint64_t)n * VIRTIO_MMIO_SIZE;
}

/* Puts a virtio device on the chosen transport and registers its reset. MMIO devices are also
 * announced on the guest's command line, for kernels without ACPI (kvmm-kernel); with ACPI the
 * DSDT lists them too, for kernels without VIRTIO_MMIO_CMDLINE_DEVICES (Debian's). */
static int attach_virtio(struct vm *vm, struct virtio_dev *vd)
{
	if (vm->transport == VM_TRANSPORT_PCI) {
		if (virtio_pci_attach(vd, &vm->kvm, &vm->pci) < 0)
			return -1;
	} else {
		if (vm->nmmio == VIRTIO_MMIO_MAX) {
			log_error("--transport mmio: at most %d virtio devices (%s is one more)",
				  VIRTIO_MMIO_MAX, vd->name);
			return -1;
		}
		uint64_t base = mmio_base(vm->nmmio);
		unsigned gsi = virtio_mmio_gsi((unsigned)vm->nmmio);
		if (virtio_mmio_attach(vd, &vm->kvm, &vm->mmio, base, gsi) < 0)
			return -1;
		size_t used = strlen(vm->cmdline_mmio);
		virtio_mmio_cmdline(vm->cmdline_mmio + used, sizeof(vm->cmdline_mmio) - used, base,
				    gsi);
		vm->nmmio++;
	}
	add_device(vm, vd->name, reset_virtio, vd);
	return 0;
}

static int create_devices(struct vm *vm)
{
	serial_init(&vm->serial, &console_serial_ops, vm);
	/* Its writer starts with the other threads in vm_start: no thread runs before a
	 * privilege drop (setuid applies to the threads that exist). */
	if (console_out_prepare(&vm->console_out, vm->console_out_fd, CONSOLE_OUT_SIZE,
				console_room, vm) < 0)
		return -1;
	i8042_init(&vm->i8042, &vm_i8042_ops, vm);
	rtc_init(&vm->rtc);
	add_device(vm, "serial", reset_serial, &vm->serial);
	add_device(vm, "i8042", reset_i8042, &vm->i8042);
	add_device(vm, "rtc", reset_rtc, &vm->rtc);
	add_device(vm, "boot-timer", reset_boot_timer, &vm->boot_timer);
	add_device(vm, "pci", reset_pci, &vm->pci);

	if (bus_register(&vm->pio, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops, &vm->serial,
			 "serial") ||
	    i8042_register(&vm->i8042, &vm->pio) || rtc_register(&vm->rtc, &vm->pio) ||
	    bus_register(&vm->pio, PORT_POST_DELAY, 1, NULL, NULL, "post-delay") ||
	    boot_timer_register(&vm->boot_timer, &vm->pio) ||
	    pci_bus_init(&vm->pci, &vm->pio, &vm->mmio))
		return -1;
	pci_bus_set_reset(&vm->pci, reset_control_request, vm);
	if (vm->acpi) {
		acpi_pm_init(&vm->acpi_pm, &vm_acpi_pm_ops, vm);
		add_device(vm, "acpi-pm", reset_acpi_pm, &vm->acpi_pm);
		if (acpi_pm_register(&vm->acpi_pm, &vm->pio))
			return -1;
	}
	return 0;
}

_Static_assert(ACPI_MAX_MMIO >= VIRTIO_MMIO_MAX, "the DSDT describes every virtio-mmio device");

/* What the ACPI tables describe: vCPUs, RAM's top (the 64-bit PCI window lies above) and the
 * PCI slots in use. */
static int write_acpi(struct vm *vm)
{
	struct acpi_config ac = {.ncpus = vm->ncpus};
	for (int i = 0; i < vm->mem.nregions; i++) {
		uint64_t end = vm->mem.regions[i].gpa + vm->mem.regions[i].size;
		if (end > ac.ram_top)
			ac.ram_top = end;
	}
	for (unsigned slot = 1; slot < PCI_MAX_DEVICES; slot++)
		if (vm->pci.slots[slot])
			ac.pci_slots |= 1u << slot;
	ac.nmmio = vm->nmmio;
	for (int i = 0; i < vm->nmmio; i++) {
		ac.mmio[i].base = mmio_base(i);
		ac.mmio[i].gsi = virtio_mmio_gsi((unsigned)i);
	}
	return acpi_write(&vm->mem, &ac);
}

static int map_memory(struct vm *vm, uint64_t size)
{
	if (gmem_init(&vm->mem, size) < 0)
		return -1;
	for (int i = 0; i < vm->mem.nregions; i++) {
		const struct gmem_region *r = &vm->mem.regions[i];
		if (kvm_set_memslot(&vm->kvm, (uint32_t)i, r->gpa, r->size, r->host) < 0)
			return -1;
	}
	return 0;
}

/* What firmware would have left in memory: kernel, initrd, command line, zero page with the
 * e820 map, MP table, GDT and page tables; then the boot processor at the kernel's entry. The
 * first boot and every reset run this same step. */
static int load_guest(struct vm *vm, struct boot_layout *boot)
{
	if (kernel_load(&vm->mem, &vm->boot_cfg, boot) < 0)
		return -1;
	kernel_loaded(vm->boot_cfg.kernel);
	if (mptable_write(&vm->mem, vm->ncpus) < 0) {
		log_error("cannot write the MP table");
		return -1;
	}
	if (vm->acpi && write_acpi(vm) < 0)
		return -1;
	if (x86_write_boot_tables(&vm->mem, boot->entry64) < 0) {
		log_error("cannot write boot page tables");
		return -1;
	}
	vm->boots++;
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm.dev_fd = vm->kvm.vm_fd = vm->stop_fd = vm->rx_ready_fd = vm->reset_fd = -1;
	pthread_mutex_init(&vm->run_lock, NULL);
	pthread_cond_init(&vm->run_cond, NULL);
	vm->io.epoll_fd = vm->io.stop_fd = vm->io.hold_fd = -1;
	vm->ncpus = cfg->ncpus;
	boot_timer_init(&vm->boot_timer, cfg->kernel->how);
	vm->kernel_entry_first = cfg->kernel->kind != KERNEL_BZIMAGE_CLASSIC;
	vm->console_out_fd = cfg->console_out_fd;
	vm->acpi = cfg->acpi;
	bus_init(&vm->pio, BUS_PIO);
	bus_init(&vm->mmio, BUS_MMIO);

	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rx_ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->reset_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0 || vm->rx_ready_fd < 0 || vm->reset_fd < 0) {
		log_error("eventfd: %s", strerror(errno));
		goto fail;
	}
	if (vcpu_signals_init() < 0)
		goto fail;

	/* 1. KVM: the VM with its in-kernel PIC, IOAPIC and PIT. */
	if (kvm_init(&vm->kvm, cfg->kvm_path) < 0)
		goto fail;
	if (cfg->ncpus > vm->kvm.max_vcpus) {
		log_error("--cpus %d: this host's KVM supports at most %d", cfg->ncpus,
			  vm->kvm.max_vcpus);
		goto fail;
	}

	timeline_mark(TL_VM_CREATED);

	/* 2. Guest RAM, split around the PCI hole, one memslot per region. */
	if (map_memory(vm, cfg->mem_size) < 0)
		goto fail;
	timeline_mark(TL_RAM_MAPPED);

	/* 3. Devices on the buses. */
	if (create_devices(vm) < 0)
		goto fail;

	/* 4. virtio devices on PCI or MMIO; their queue work runs on the I/O thread. */
	if (io_thread_init(&vm->io) < 0)
		goto fail;
	vm->transport = cfg->transport;
	if (cfg->rng) {
		vm->rng = calloc(1, sizeof(*vm->rng));
		if (!vm->rng || virtio_rng_init(vm->rng, &vm->mem, &vm->io) < 0 ||
		    attach_virtio(vm, &vm->rng->vd) < 0)
			goto fail;
	}
	for (int i = 0; i < cfg->ndisks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		struct virtio_blk *blk = calloc(1, sizeof(*blk));
		if (!blk)
			goto fail;
		blk->fd = -1;
		vm->disks[vm->ndisks++] = blk;
		if (virtio_blk_init(blk, d->path, d->ro, d->serial, d->sync_io, &vm->mem, &vm->io) <
			0 ||
		    attach_virtio(vm, &blk->vd) < 0)
			goto fail;
	}
	for (int i = 0; i < cfg->nnics; i++) {
		struct virtio_net *net = calloc(1, sizeof(*net));
		if (!net)
			goto fail;
		net->tap_fd = -1;
		vm->nics[vm->nnics++] = net;
		if (virtio_net_init(net, cfg->nics[i].tap, cfg->nics[i].mac, cfg->nics[i].vhost,
				    &vm->mem, &vm->io) < 0 ||
		    attach_virtio(vm, &net->vd) < 0)
			goto fail;
	}

	/* A screen: the framebuffer (a memslot of its own) and the keyboard and tablet. */
	if (cfg->fb_width) {
		vm->fb = calloc(1, sizeof(*vm->fb));
		vm->kbd = calloc(1, sizeof(*vm->kbd));
		vm->tablet = calloc(1, sizeof(*vm->tablet));
		if (!vm->fb || !vm->kbd || !vm->tablet ||
		    framebuffer_init(vm->fb, &vm->kvm, cfg->fb_width, cfg->fb_height) < 0)
			goto fail;
		add_device(vm, "framebuffer", reset_framebuffer, vm->fb);
		framebuffer_screen_info(cfg->fb_width, cfg->fb_height, &vm->screen);
		if (virtio_input_init(vm->kbd, VIRTIO_INPUT_KEYBOARD, &vm->mem, &vm->io) < 0 ||
		    attach_virtio(vm, &vm->kbd->vd) < 0 ||
		    virtio_input_init(vm->tablet, VIRTIO_INPUT_TABLET, &vm->mem, &vm->io) < 0 ||
		    attach_virtio(vm, &vm->tablet->vd) < 0)
			goto fail;
	}

	timeline_mark(TL_DEVICES);

	/* 5. Kernel, initrd and boot tables in memory (load_guest). Ours first on the command
	 *    line: anything after a user's " -- " goes to init, not the kernel. */
	if (asprintf(&vm->cmdline, "%s%s", vm->cmdline_mmio, cfg->cmdline ? cfg->cmdline : "") <
	    0) {
		vm->cmdline = NULL;
		log_error("out of memory");
		goto fail;
	}
	vm->boot_cfg = (struct boot_config){
	    .kernel = cfg->kernel,
	    .initrd = cfg->initrd,
	    .initrd_len = cfg->initrd_len,
	    .cmdline = vm->cmdline,
	    .rsdp = vm->acpi ? ACPI_RSDP_ADDR : 0,
	    .screen = vm->fb ? &vm->screen : NULL,
	    .fb_base = vm->fb ? FB_BASE : 0,
	    .fb_size = vm->fb ? vm->fb->size : 0,
	};
	struct boot_layout boot;
	if (load_guest(vm, &boot) < 0)
		goto fail;
	timeline_mark(TL_KERNEL_LOADED);

	/* 6. vCPUs; the boot processor starts at the kernel's entry point. */
	vm->cpuid = cpuid_supported(vm->kvm.dev_fd);
	if (!vm->cpuid)
		goto fail;
	vm->vcpus = calloc((size_t)vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		log_error("out of memory");
		goto fail;
	}
	for (int i = 0; i < vm->ncpus; i++)
		if (vcpu_create(&vm->vcpus[i], vm, i, vm->cpuid) < 0)
			goto fail;
	if (vcpu_set_boot_state(&vm->vcpus[0], &boot) < 0)
		goto fail;
	timeline_mark(TL_VCPUS);
	return 0;
fail:
	vm_destroy(vm);
	return -1;
}

int vm_start(struct vm *vm)
{
	if (console_out_start(&vm->console_out) < 0 || io_thread_start(&vm->io) < 0) {
		vm_request_stop(vm, VM_STOP_ERROR);
		return -1;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		if (vcpu_start(&vm->vcpus[i]) < 0) {
			vm_request_stop(vm, VM_STOP_ERROR);
			return -1;
		}
	}
	return 0;
}

void vm_request_stop(struct vm *vm, enum vm_stop why)
{
	int expected = VM_RUNNING;
	if (!atomic_compare_exchange_strong(&vm->stop, &expected, (int)why))
		return;
	for (int i = 0; i < vm->ncpus && vm->vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	/* Parked vCPUs leave too. */
	pthread_mutex_lock(&vm->run_lock);
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
	notify(vm->stop_fd);
}

bool vm_vcpu_held(struct vm *vm)
{
	return atomic_load(&vm->held);
}

void vm_vcpu_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->run_cond);
	while (vm->holds > 0 && vm_stop_reason(vm) == VM_RUNNING)
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->run_lock);
}

static int started_vcpus(struct vm *vm)
{
	int n = 0;
	for (int i = 0; i < vm->ncpus && vm->vcpus; i++)
		n += vm->vcpus[i].started;
	return n;
}

/* With run_lock held: one more hold, every vCPU kicked out of KVM_RUN. */
static void hold_locked(struct vm *vm)
{
	if (vm->holds++ == 0) {
		atomic_store(&vm->held, true);
		for (int i = 0; i < vm->ncpus && vm->vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
	}
}

static void release_locked(struct vm *vm)
{
	if (vm->holds > 0 && --vm->holds == 0) {
		atomic_store(&vm->held, false);
		pthread_cond_broadcast(&vm->run_cond);
	}
}

void vm_hold_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	hold_locked(vm);
	while (vm->parked < started_vcpus(vm) && vm_stop_reason(vm) == VM_RUNNING)
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	pthread_mutex_unlock(&vm->run_lock);
}

void vm_release_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	release_locked(vm);
	pthread_mutex_unlock(&vm->run_lock);
}

void vm_request_reset(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	if (!vm->reset_pending) {
		vm->reset_pending = true;
		hold_locked(vm);
		notify(vm->reset_fd);
	}
	pthread_mutex_unlock(&vm->run_lock);
}

bool vm_reset_pending(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	bool pending = vm->reset_pending;
	pthread_mutex_unlock(&vm->run_lock);
	return pending;
}

bool vm_take_reset_request(struct vm *vm)
{
	uint64_t v;
	return read(vm->reset_fd, &v, sizeof(v)) == sizeof(v) && vm_reset_pending(vm);
}

bool vm_is_paused(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	bool paused = vm->paused;
	pthread_mutex_unlock(&vm->run_lock);
	return paused;
}

int vm_pause(struct vm *vm)
{
	vm_hold_vcpus(vm);
	io_thread_hold(&vm->io);
	if (kvm_get_clock(&vm->kvm, &vm->paused_clock) < 0) {
		io_thread_release(&vm->io);
		vm_release_vcpus(vm);
		return -1;
	}
	/* vhost-net moves packets and raises interrupts without kvmm: detached too. */
	for (int i = 0; i < vm->nnics; i++)
		virtio_net_pause(vm->nics[i], true);
	/* Tells a guest using kvmclock that it was stopped on purpose, so its soft-lockup
	 * watchdog does not bark at the gap; EINVAL when the guest has no kvmclock yet. */
	for (int i = 0; i < vm->ncpus; i++)
		if (ioctl(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
			log_debug("vCPU %d: KVM_KVMCLOCK_CTRL: %s", i, strerror(errno));
	pthread_mutex_lock(&vm->run_lock);
	vm->paused = true;
	pthread_mutex_unlock(&vm->run_lock);
	return 0;
}

int vm_resume(struct vm *vm)
{
	if (kvm_set_clock(&vm->kvm, vm->paused_clock) < 0)
		return -1;
	pthread_mutex_lock(&vm->run_lock);
	vm->paused = false;
	pthread_mutex_unlock(&vm->run_lock);
	for (int i = 0; i < vm->nnics; i++)
		virtio_net_pause(vm->nics[i], false);
	io_thread_release(&vm->io);
	vm_release_vcpus(vm);
	/* Input typed during the pause waits in the console loop: wake it. */
	notify(vm->rx_ready_fd);
	return 0;
}

int vm_reset(struct vm *vm)
{
	vm_hold_vcpus(vm);
	io_thread_hold(&vm->io);
	/* Devices first: a virtio-blk reset waits for its I/O in flight, so nothing of the old
	 * boot can land in the memory the new one gets. */
	vm_reset_devices(vm);
	int r = kvm_reset_irqchips(&vm->kvm);
	for (int i = 0; i < vm->ncpus && r == 0; i++)
		r = vcpu_power_on(&vm->vcpus[i]);
	/* After the vCPUs: their kvmclock and steal-time MSRs are off, KVM writes RAM no more. */
	struct boot_layout boot;
	if (r == 0)
		r = gmem_wipe(&vm->mem);
	timeline_new_boot();
	if (r == 0)
		r = load_guest(vm, &boot);
	if (r == 0)
		r = vcpu_set_boot_state(&vm->vcpus[0], &boot);
	if (r < 0) {
		log_error("reset failed; stopping the VM");
		vm_request_stop(vm, VM_STOP_ERROR);
	}
	pthread_mutex_lock(&vm->run_lock);
	if (vm->reset_pending) {
		vm->reset_pending = false;
		release_locked(vm);
	}
	pthread_mutex_unlock(&vm->run_lock);
	io_thread_release(&vm->io);
	vm_release_vcpus(vm);
	return r;
}

int vm_power_button(struct vm *vm)
{
	if (!vm->acpi)
		return -1;
	return acpi_pm_power_button(&vm->acpi_pm) ? 1 : 0;
}

int vm_send_keys(struct vm *vm, const uint16_t *codes, unsigned n, char *err, size_t errlen)
{
	if (!vm->kbd) {
		snprintf(err, errlen, "the VM has no keyboard (it comes with --display sdl)");
		return -1;
	}
	/* Nothing reaches a paused guest's rings: the keys would land while it is stopped. */
	if (vm_is_paused(vm)) {
		snprintf(err, errlen, "the VM is paused: resume it first");
		return -1;
	}
	/* One batch: every press, then the releases, then one SYN. It goes whole or not at
	 * all, so no key can be left down in the guest for want of room. */
	struct virtio_input_event ev[2 * KEYMAP_MAX_COMBO + 1];
	if (n > KEYMAP_MAX_COMBO) {
		snprintf(err, errlen, "more than %d keys at once", KEYMAP_MAX_COMBO);
		return -1;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		ev[k++] = (struct virtio_input_event){EV_KEY, codes[i], 1};
	for (unsigned i = n; i-- > 0;)
		ev[k++] = (struct virtio_input_event){EV_KEY, codes[i], 0};
	ev[k++] = (struct virtio_input_event){EV_SYN, SYN_REPORT, 0};
	if (virtio_input_send(vm->kbd, ev, k) < 0) {
		snprintf(err, errlen,
			 "the guest's keyboard driver is not ready, or its queue is full");
		return -1;
	}
	return 0;
}

int vm_screendump(struct vm *vm, const char *path, char *err, size_t errlen)
{
	if (!vm->fb) {
		snprintf(err, errlen, "the VM has no screen (it comes with --display sdl)");
		return -1;
	}
	return screendump_write_png(path, vm->fb->pixels, vm->fb->width, vm->fb->height,
				    vm->fb->stride, err, errlen);
}

void vm_flush_disks(struct vm *vm)
{
	for (int i = 0; i < vm->ndisks; i++)
		if (vm->disks[i]->fd >= 0 && fdatasync(vm->disks[i]->fd) < 0)
			log_warn("disk %s: fdatasync: %s", vm->disks[i]->vd.name, strerror(errno));
}

enum vm_stop vm_stop_reason(struct vm *vm)
{
	return (enum vm_stop)atomic_load(&vm->stop);
}

void vm_reset_devices(struct vm *vm)
{
	for (int i = 0; i < vm->ndevices; i++)
		vm->devices[i].reset(vm->devices[i].dev);
}

void vm_destroy(struct vm *vm)
{
	/* vCPU threads may still be running if we got here without a stop request. */
	vm_request_stop(vm, VM_STOP_QUIT);
	if (vm->vcpus) {
		for (int i = 0; i < vm->ncpus; i++)
			vcpu_destroy(&vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	free(vm->cpuid);
	vm->cpuid = NULL;
	/* After the vCPUs: no kick can arrive once the I/O thread is gone. */
	io_thread_destroy(&vm->io);
	if (vm->rng) {
		virtio_rng_destroy(vm->rng);
		free(vm->rng);
		vm->rng = NULL;
	}
	for (int i = 0; i < vm->ndisks; i++) {
		virtio_blk_destroy(vm->disks[i]);
		free(vm->disks[i]);
	}
	vm->ndisks = 0;
	for (int i = 0; i < vm->nnics; i++) {
		virtio_net_destroy(vm->nics[i]);
		free(vm->nics[i]);
	}
	vm->nnics = 0;
	if (vm->kbd)
		virtio_input_destroy(vm->kbd);
	if (vm->tablet)
		virtio_input_destroy(vm->tablet);
	free(vm->kbd);
	free(vm->tablet);
	vm->kbd = vm->tablet = NULL;
	if (vm->fb) {
		framebuffer_destroy(vm->fb);
		free(vm->fb);
		vm->fb = NULL;
	}
	/* No vCPU writes the UART any more: what the guest printed goes out, then the UART. */
	console_out_destroy(&vm->console_out);
	if (vm->serial.tx_dropped)
		log_warn(
		    "%llu bytes of guest console output were dropped: the console was not read",
		    (unsigned long long)vm->serial.tx_dropped);
	if (vm->ndevices) {
		serial_destroy(&vm->serial);
		i8042_destroy(&vm->i8042);
		rtc_destroy(&vm->rtc);
		pci_bus_destroy(&vm->pci);
		if (vm->acpi)
			acpi_pm_destroy(&vm->acpi_pm);
		vm->ndevices = 0;
	}
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	gmem_free(&vm->mem);
	kvm_close(&vm->kvm);
	free(vm->cmdline);
	vm->cmdline = NULL;
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->rx_ready_fd >= 0)
		close(vm->rx_ready_fd);
	if (vm->reset_fd >= 0)
		close(vm->reset_fd);
	vm->stop_fd = vm->rx_ready_fd = vm->reset_fd = -1;
}
