#define _GNU_SOURCE /* asprintf */
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cpuid.h"
#include "loader/bzimage.h"
#include "loader/mptable.h"
#include "loader/x86_boot.h"
#include "log.h"

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
	vm_request_stop(opaque, VM_STOP_RESET);
}

static const struct i8042_ops vm_i8042_ops = {.set_irq = i8042_irq, .reset = i8042_reset_request};

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
static void reset_rtc(void *dev)
{
	rtc_reset(dev);
}
static void reset_pci(void *dev)
{
	pci_bus_reset(dev);
}
static void reset_virtio(void *dev)
{
	virtio_dev_reset(dev);
}

/* Puts a virtio device on the chosen transport and registers its reset. MMIO devices are also
 * announced on the guest's command line: without firmware tables that is how a kernel finds
 * them. */
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
		uint64_t base = VIRTIO_MMIO_BASE + vm->nmmio * VIRTIO_MMIO_SIZE;
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
	if (console_out_init(&vm->console_out, vm->console_out_fd, CONSOLE_OUT_SIZE, console_room,
			     vm) < 0)
		return -1;
	i8042_init(&vm->i8042, &vm_i8042_ops, vm);
	rtc_init(&vm->rtc);
	add_device(vm, "serial", reset_serial, &vm->serial);
	add_device(vm, "i8042", reset_i8042, &vm->i8042);
	add_device(vm, "rtc", reset_rtc, &vm->rtc);
	add_device(vm, "pci", reset_pci, &vm->pci);

	if (bus_register(&vm->pio, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops, &vm->serial,
			 "serial") ||
	    i8042_register(&vm->i8042, &vm->pio) || rtc_register(&vm->rtc, &vm->pio) ||
	    bus_register(&vm->pio, PORT_POST_DELAY, 1, NULL, NULL, "post-delay") ||
	    pci_bus_init(&vm->pci, &vm->pio, &vm->mmio))
		return -1;
	return 0;
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

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm.dev_fd = vm->kvm.vm_fd = vm->stop_fd = vm->rx_ready_fd = -1;
	vm->io.epoll_fd = vm->io.stop_fd = -1;
	vm->ncpus = cfg->ncpus;
	vm->console_out_fd = cfg->console_out_fd;
	bus_init(&vm->pio, BUS_PIO);
	bus_init(&vm->mmio, BUS_MMIO);

	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rx_ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0 || vm->rx_ready_fd < 0) {
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

	/* 2. Guest RAM, split around the PCI hole, one memslot per region. */
	if (map_memory(vm, cfg->mem_size) < 0)
		goto fail;

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

	/* 5. What firmware would have left in memory: kernel, initrd, command line, zero page
	 *    with the e820 map, MP table, GDT and page tables. */
	/* Ours first: anything after a user's " -- " goes to init, not the kernel. */
	if (asprintf(&vm->cmdline, "%s%s", vm->cmdline_mmio, cfg->cmdline ? cfg->cmdline : "") <
	    0) {
		vm->cmdline = NULL;
		log_error("out of memory");
		goto fail;
	}
	struct boot_config boot_cfg = {
	    .image = cfg->kernel,
	    .image_len = cfg->kernel_len,
	    .initrd = cfg->initrd,
	    .initrd_len = cfg->initrd_len,
	    .cmdline = vm->cmdline,
	};
	struct boot_layout boot;
	if (bzimage_load(&vm->mem, &boot_cfg, &boot) < 0)
		goto fail;
	if (mptable_write(&vm->mem, vm->ncpus) < 0) {
		log_error("cannot write the MP table");
		goto fail;
	}
	if (x86_write_boot_tables(&vm->mem, boot.entry64) < 0) {
		log_error("cannot write boot page tables");
		goto fail;
	}

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
	return 0;
fail:
	vm_destroy(vm);
	return -1;
}

int vm_start(struct vm *vm)
{
	if (io_thread_start(&vm->io) < 0) {
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
	notify(vm->stop_fd);
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
	vm->stop_fd = vm->rx_ready_fd = -1;
}
