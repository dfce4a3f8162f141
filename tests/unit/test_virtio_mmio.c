/* The virtio-mmio register file (virtio 1.2 section 4.2.2) over the transport-neutral core, as
 * a driver walks it: identification, feature negotiation, queue setup, status, interrupt
 * acknowledgement, configuration space, and what a driver may no longer change. No KVM: the
 * device has no transport interrupt hooked up, so only the registers are exercised. */
#include <string.h>

#include "devices/virtio_mmio.h"
#include "fake_virtio.h"
#include "stderr_capture.h"
#include "unit.h"
#include "vmm/log.h"

static struct guest_mem mem;
static struct io_thread io;
static struct virtio_dev vd;
static struct virtio_mmio vm;

static uint8_t cfg[8];

static void cfg_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
	(void)dev;
	memcpy(data, &cfg[offset], len);
}

static void cfg_write(void *dev, unsigned offset, const uint8_t *data, unsigned len)
{
	(void)dev;
	memcpy(&cfg[offset], data, len);
}

static const struct virtio_device_ops ops = {
    .device_id = 4,
    .features = 1ULL << 3,
    .nqueues = 2,
    .queue_max = 64,
    .config_size = 8,
    .config_read = cfg_read,
    .config_write = cfg_write,
    .queue_notify = fake_queue_notify,
    .driver_ok = fake_driver_ok,
    .reset = fake_reset,
};

static uint32_t rd(uint64_t off)
{
	uint8_t b[4];
	virtio_mmio_read(&vm, off, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(uint64_t off, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	virtio_mmio_write(&vm, off, b, 4);
}

static void setup(void)
{
	ck_assert_int_eq(gmem_init_layout(&mem, 1 * MiB, 4 * GiB, 4 * GiB), 0);
	ck_assert_int_eq(io_thread_init(&io), 0);
	ck_assert_int_eq(virtio_dev_init(&vd, "test", &ops, NULL, &mem, &io), 0);
	vm = (struct virtio_mmio){.vd = &vd};
	static const uint8_t initial[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	memcpy(cfg, initial, sizeof(cfg));
	fake_counts_clear();
}

static void teardown(void)
{
	virtio_dev_destroy(&vd);
	io_thread_destroy(&io);
	gmem_free(&mem);
}

/* Linux's virtio_mmio probe checks these before anything else. */
START_TEST(test_identification)
{
	ck_assert_uint_eq(rd(0x000), 0x74726976);
	ck_assert_uint_eq(rd(0x004), 2);
	ck_assert_uint_eq(rd(0x008), 4);
	ck_assert_uint_eq(rd(0x0fc), 0); /* config generation */
	/* Not a 32-bit access: the register file answers zero. */
	uint8_t b[2] = {0xff, 0xff};
	virtio_mmio_read(&vm, 0x000, b, 2);
	ck_assert(b[0] == 0 && b[1] == 0);
}
END_TEST

START_TEST(test_features)
{
	wr(0x014, 0);
	ck_assert_uint_eq(rd(0x010), 1U << 3 | 1U << 28 | 1U << 29);
	wr(0x014, 1);
	ck_assert_uint_eq(rd(0x010), 1); /* VIRTIO_F_VERSION_1 is bit 32 */
	wr(0x014, 2);
	ck_assert_uint_eq(rd(0x010), 0);
	/* The driver takes bit 3 and VERSION_1; FEATURES_OK sticks. */
	wr(0x024, 0);
	wr(0x020, 1U << 3);
	wr(0x024, 1);
	wr(0x020, 1);
	wr(0x070, 1 | 2 | 8);
	ck_assert_uint_eq(rd(0x070), 1 | 2 | 8);
	ck_assert_uint_eq(vd.driver_features, (1ULL << 32) | (1ULL << 3));
	/* After FEATURES_OK the features are frozen. */
	wr(0x024, 0);
	wr(0x020, 0);
	ck_assert_uint_eq(vd.driver_features, (1ULL << 32) | (1ULL << 3));
}
END_TEST

START_TEST(test_features_without_version_1)
{
	wr(0x024, 0);
	wr(0x020, 1U << 3);
	wr(0x070, 1 | 2 | 8);
	ck_assert_uint_eq(rd(0x070), 1 | 2); /* FEATURES_OK refused: no legacy devices here */
}
END_TEST

/* The device starts work once, and only for a driver whose features it accepted. */
START_TEST(test_driver_ok_needs_features_ok)
{
	wr(0x070, 1 | 2 | 4); /* DRIVER_OK without FEATURES_OK */
	ck_assert_uint_eq(started, 0);
	wr(0x070, 0);
	wr(0x024, 1);
	wr(0x020, 1); /* VERSION_1 */
	wr(0x070, 1 | 2 | 8);
	wr(0x070, 1 | 2 | 8 | 4);
	ck_assert_uint_eq(started, 1);
	wr(0x070, 1 | 2 | 8 | 4);
	ck_assert_uint_eq(started, 1);
}
END_TEST

START_TEST(test_queue_setup)
{
	wr(0x030, 1);
	ck_assert_uint_eq(rd(0x034), 64);
	wr(0x038, 48); /* not a power of two: ignored */
	wr(0x038, 16);
	wr(0x080, 0x1000);
	wr(0x084, 0);
	wr(0x090, 0x2000);
	wr(0x0a0, 0x3000);
	ck_assert_uint_eq(rd(0x044), 0);
	wr(0x044, 1);
	ck_assert_uint_eq(rd(0x044), 1);
	ck_assert_uint_eq(vd.vqs[1].size, 16);
	ck_assert_uint_eq(vd.vqs[1].desc_gpa, 0x1000);
	ck_assert_uint_eq(vd.vqs[1].avail_gpa, 0x2000);
	ck_assert_uint_eq(vd.vqs[1].used_gpa, 0x3000);
	/* An enabled queue's layout stays as it was. */
	wr(0x080, 0x5000);
	wr(0x038, 32);
	ck_assert_uint_eq(vd.queue_desc[1], 0x1000);
	ck_assert_uint_eq(vd.queue_size[1], 16);
	/* A queue that does not exist, nor one past 16 bits that would alias queue 0. */
	wr(0x030, 0x10000);
	ck_assert_uint_eq(rd(0x034), 0);
	wr(0x030, 2);
	ck_assert_uint_eq(rd(0x034), 0);
	wr(0x044, 1);
	ck_assert_uint_eq(rd(0x044), 0);
}
END_TEST

START_TEST(test_ring_outside_ram_needs_reset)
{
	wr(0x030, 0);
	wr(0x038, 16);
	wr(0x080, 0x7fff0000); /* past 1 MiB of RAM */
	wr(0x090, 0x2000);
	wr(0x0a0, 0x3000);
	wr(0x044, 1);
	ck_assert_uint_eq(rd(0x044), 0);
	ck_assert(rd(0x070) & 0x40); /* DEVICE_NEEDS_RESET */
	ck_assert_uint_eq(rd(0x0fc), 1);
}
END_TEST

/* virtio 1.2 §2.1.2: the driver must not clear a status bit; a write that would (other than 0,
 * the reset) is ignored, so features cannot be renegotiated under what the device latched. */
START_TEST(test_status_bits_cannot_be_cleared)
{
	wr(0x024, 1);
	wr(0x020, 1); /* VERSION_1 */
	wr(0x070, 1 | 2 | 8);
	ck_assert_uint_eq(rd(0x070), 1 | 2 | 8);
	wr(0x070, 1 | 2); /* FEATURES_OK cleared: ignored */
	ck_assert_uint_eq(rd(0x070), 1 | 2 | 8);
	wr(0x024, 0);
	wr(0x020, 1U << 3); /* still frozen */
	ck_assert_uint_eq(vd.driver_features, 1ULL << 32);
	wr(0x070, 1 | 2 | 8 | 4);
	ck_assert_uint_eq(started, 1);
	wr(0x070, 1 | 2 | 8); /* DRIVER_OK cleared: ignored, the device keeps running */
	ck_assert_uint_eq(rd(0x070), 1 | 2 | 8 | 4);
	wr(0x070, 0x80 | 1 | 2 | 8 | 4); /* FAILED may be added */
	ck_assert_uint_eq(rd(0x070), 0x80 | 1 | 2 | 8 | 4);
	wr(0x070, 0); /* reset clears everything */
	ck_assert_uint_eq(rd(0x070), 0);
}
END_TEST

/* A guest that breaks its ring after every reset cannot flood the host's log: the warning is
 * rate-limited. stderr goes to a file while the guest misbehaves 50 times. */
START_TEST(test_malformed_warning_is_rate_limited)
{
	struct stderr_capture cap;
	stderr_capture_begin(&cap);
	for (int i = 0; i < 50; i++) {
		wr(0x070, 0);
		wr(0x030, 0);
		wr(0x038, 16);
		wr(0x080, 0x7fff0000); /* past 1 MiB of RAM */
		wr(0x090, 0x2000);
		wr(0x0a0, 0x3000);
		wr(0x044, 1);
		ck_assert(rd(0x070) & 0x40);
	}
	int lines = stderr_capture_end(&cap, "malformed");
	ck_assert_int_ge(lines, 1);
	ck_assert_int_le(lines, LOG_LIMIT_BURST);
}
END_TEST

START_TEST(test_interrupt_ack_and_reset)
{
	vd.isr = 3;
	ck_assert_uint_eq(rd(0x060), 3);
	wr(0x064, 1);
	ck_assert_uint_eq(rd(0x060), 2);
	wr(0x030, 0);
	wr(0x038, 16);
	wr(0x080, 0x1000);
	wr(0x090, 0x2000);
	wr(0x0a0, 0x3000);
	wr(0x044, 1);
	wr(0x070, 1);
	unsigned before = resets;
	wr(0x070, 0);
	ck_assert_uint_eq(resets, before + 1);
	ck_assert_uint_eq(rd(0x070), 0);
	ck_assert_uint_eq(rd(0x060), 0);
	ck_assert_uint_eq(rd(0x044), 0);
	ck_assert_uint_eq(vd.queue_size[0], 64);
}
END_TEST

START_TEST(test_config_space)
{
	uint8_t b[4];
	virtio_mmio_read(&vm, 0x100 + 2, b, 2);
	ck_assert(b[0] == 3 && b[1] == 4);
	virtio_mmio_read(&vm, 0x100 + 4, b, 4);
	ck_assert(b[0] == 5 && b[3] == 8);
	memset(b, 0xaa, sizeof(b));
	virtio_mmio_read(&vm, 0x100 + 6, b, 4); /* runs past the 8 bytes */
	ck_assert(b[0] == 0 && b[3] == 0);
}
END_TEST

/* Writes of any width within the configuration reach the device; one that runs past its end
 * does not, in part or at all. */
START_TEST(test_config_write)
{
	uint8_t b[4] = {0xa1, 0xa2, 0xa3, 0xa4};
	virtio_mmio_write(&vm, 0x100 + 1, b, 1);
	virtio_mmio_write(&vm, 0x100 + 4, b, 4);
	ck_assert_uint_eq(cfg[1], 0xa1);
	ck_assert_uint_eq(cfg[4], 0xa1);
	ck_assert_uint_eq(cfg[7], 0xa4);
	virtio_mmio_write(&vm, 0x100 + 6, b, 4);
	virtio_mmio_write(&vm, 0x100 + 8, b, 1);
	ck_assert_uint_eq(cfg[6], 0xa3);
	ck_assert_uint_eq(cfg[7], 0xa4);
	ck_assert_uint_eq(cfg[0], 1);
	ck_assert_uint_eq(rd(0x0fc), 0); /* the driver's own change: no new generation */
}
END_TEST

START_TEST(test_cmdline)
{
	char buf[64];
	virtio_mmio_cmdline(buf, sizeof(buf), VIRTIO_MMIO_BASE + VIRTIO_MMIO_SIZE,
			    virtio_mmio_gsi(1));
	ck_assert_str_eq(buf, "virtio_mmio.device=4K@0xfeb01000:6 ");
	/* Lines no legacy device uses: not the PIT, keyboard, cascade, COM1, RTC, mouse or the
	 * ACPI SCI; and no two devices share one. */
	for (unsigned n = 0; n < VIRTIO_MMIO_MAX; n++) {
		unsigned g = virtio_mmio_gsi(n);
		ck_assert(g != 0 && g != 1 && g != 2 && g != 4 && g != 8 && g != 9 && g != 12 &&
			  g < 16);
		for (unsigned m = 0; m < n; m++)
			ck_assert_uint_ne(virtio_mmio_gsi(m), g);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_mmio");
	TCase *tc = tcase_create("registers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_identification);
	tcase_add_test(tc, test_features);
	tcase_add_test(tc, test_features_without_version_1);
	tcase_add_test(tc, test_driver_ok_needs_features_ok);
	tcase_add_test(tc, test_queue_setup);
	tcase_add_test(tc, test_ring_outside_ram_needs_reset);
	tcase_add_test(tc, test_status_bits_cannot_be_cleared);
	tcase_add_test(tc, test_malformed_warning_is_rate_limited);
	tcase_add_test(tc, test_interrupt_ack_and_reset);
	tcase_add_test(tc, test_config_space);
	tcase_add_test(tc, test_config_write);
	tcase_add_test(tc, test_cmdline);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
