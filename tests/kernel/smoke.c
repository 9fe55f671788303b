/* SPDX-License-Identifier: MIT */
/*
 * smoke: the real-kernel tier's own sanity check, without libiopf.
 *
 * Runs the mock-IOMMU fault sequence with raw ioctls (kt-helper + the kernel's headers)
 * and checks what libiopf relies on: the fault record layout as the kernel fills it,
 * cookies, the read/write rules of the fault fd, poll readiness and teardown. If this
 * fails, the kernel or the tier is broken, not the library.
 *
 * Exit: 0 pass, 77 skip (no iommufd test support here), 1 fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h> /* the kernel's, from <cachedir>/hdr/include */
#include <iommufd_test.h>

#include "kt-helper.h"
#include "kt-report.h"

#define PROG "smoke"

static int failures;



/* A check that is reported but lets the rest run (the test still fails at the end). */
#define EXPECT(cond, ...)                                                        \
	do {                                                                     \
		if (!(cond)) {                                                   \
			printf(PROG ": FAIL at %s:%d: %s: ", __FILE__, __LINE__, \
			       #cond);                                           \
			printf(__VA_ARGS__);                                     \
			putchar('\n');                                           \
			fflush(stdout);                                          \
			failures++;                                              \
		}                                                                \
	} while (0)


struct expect_fault {
	uint32_t pasid, grpid, perm;
	uint64_t addr;
};

static void print_fault(int i, const struct iommu_hwpt_pgfault *f)
{
	STEP("  fault[%d]: flags=0x%x dev_id=%u pasid=%u grpid=%u perm=0x%x addr=0x%" PRIx64
	     " length=%u cookie=%u",
	     i, f->flags, f->dev_id, f->pasid, f->grpid, f->perm, (uint64_t)f->addr, f->length,
	     f->cookie);
}

static int poll_in(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	int n = poll(&p, 1, timeout_ms);

	CHECK(n >= 0, "poll: %s", strerror(errno));
	return n ? p.revents : 0;
}

int main(void)
{
	static const struct expect_fault exp[] = {
		{ .pasid = 1, .grpid = 2, .perm = IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE,
		  .addr = 0xdeadb000 },
		{ .pasid = 0, .grpid = 7, .perm = IOMMU_PGFAULT_PERM_READ, .addr = 0x7f1234567000ull },
	};
	const int nexp = (int)(sizeof(exp) / sizeof(exp[0]));
	struct iommu_hwpt_pgfault rec[8];
	struct iommu_hwpt_page_response resp[2];
	uint32_t ioas_id, stdev_id, hwpt_id, idev_id, parent_id, fault_id, nested_id;
	int fd, fault_fd, rc, revents;
	ssize_t n;

	_Static_assert(sizeof(struct iommu_hwpt_pgfault) == 40, "record size");
	_Static_assert(sizeof(struct iommu_hwpt_page_response) == 8, "response size");

	fd = kt_open_or_skip(PROG);
	STEP("opened /dev/iommu (fd %d); IOMMU_TEST_CMD and IOMMU_FAULT_QUEUE_ALLOC present", fd);

	rc = kt_ioas_alloc(fd, &ioas_id);
	CHECK(!rc, "IOMMU_IOAS_ALLOC: %s", RC(rc));
	STEP("1. IOMMU_IOAS_ALLOC: ioas_id=%u", ioas_id);

	rc = kt_mock_domain(fd, ioas_id, &stdev_id, &hwpt_id, &idev_id);
	CHECK(!rc, "MOCK_DOMAIN: %s", RC(rc));
	STEP("2. IOMMU_TEST_OP_MOCK_DOMAIN: stdev_id=%u hwpt_id=%u idev_id=%u", stdev_id, hwpt_id,
	     idev_id);

	rc = kt_hwpt_alloc_parent(fd, idev_id, ioas_id, &parent_id);
	CHECK(!rc, "IOMMU_HWPT_ALLOC(NEST_PARENT): %s", RC(rc));
	STEP("3. IOMMU_HWPT_ALLOC NEST_PARENT: parent_id=%u", parent_id);

	rc = kt_fault_alloc(fd, &fault_id, &fault_fd);
	CHECK(!rc, "IOMMU_FAULT_QUEUE_ALLOC: %s", RC(rc));
	rc = fcntl(fault_fd, F_GETFD);
	STEP("4. IOMMU_FAULT_QUEUE_ALLOC: fault_id=%u fault_fd=%d%s", fault_id, fault_fd,
	     rc >= 0 && (rc & FD_CLOEXEC) ? " (O_CLOEXEC)" : "");
	EXPECT(rc >= 0 && (rc & FD_CLOEXEC), "fault fd is not O_CLOEXEC");

	/* 6.11/6.12: only nested HWPTs take a fault object (paging: EOPNOTSUPP until 6.13,
	 * accepted from 6.13 on: 7.3 delivers faults through paging HWPTs too). */
	{
		int kver = kt_kernel_version();

		struct iommu_hwpt_alloc cmd = {
			.size = sizeof(cmd),
			.flags = IOMMU_HWPT_FAULT_ID_VALID,
			.dev_id = idev_id,
			.pt_id = ioas_id,
			.fault_id = fault_id,
		};
		rc = ioctl(fd, IOMMU_HWPT_ALLOC, &cmd) ? -errno : 0;
		STEP("   paging HWPT with FAULT_ID_VALID on %d.%d: %s", kver / 100, kver % 100, RC(rc));
		CHECK(kver > 0, "kt_kernel_version: %s", RC(kver));
		if (kver < 613)
			EXPECT(rc == -EOPNOTSUPP, "before 6.13 expected EOPNOTSUPP, got %s", RC(rc));
		else
			EXPECT(rc == 0, "from 6.13 on expected success, got %s", RC(rc));
		if (!rc)
			kt_destroy(fd, cmd.out_hwpt_id);
	}

	rc = kt_hwpt_alloc_nested(fd, idev_id, parent_id, fault_id, &nested_id);
	CHECK(!rc, "IOMMU_HWPT_ALLOC(nested, FAULT_ID_VALID): %s", RC(rc));
	STEP("5. IOMMU_HWPT_ALLOC nested FAULT_ID_VALID data_type=0x%x iotlb=0x%x: hwpt_id=%u",
	     IOMMU_HWPT_DATA_SELFTEST, IOMMU_TEST_IOTLB_DEFAULT, nested_id);

	rc = kt_mock_domain_replace(fd, stdev_id, nested_id);
	CHECK(!rc, "MOCK_DOMAIN_REPLACE: %s", RC(rc));
	STEP("6. IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE stdev %u -> hwpt %u (IOPF enabled)", stdev_id,
	     nested_id);

	/* The queue is empty: read gives 0 at once, poll says writable only. */
	revents = poll_in(fault_fd, 0);
	EXPECT(revents == POLLOUT, "empty queue: revents 0x%x, want POLLOUT only", revents);
	n = read(fault_fd, rec, sizeof(rec));
	EXPECT(n == 0, "read of an empty queue gave %zd (%s), want 0", n,
	       n < 0 ? strerror(errno) : "");
	STEP("   empty queue: poll revents=0x%x, read=%zd", revents, n);

	for (int i = 0; i < nexp; i++) {
		rc = kt_trigger_iopf(fd, idev_id, exp[i].pasid, exp[i].grpid, exp[i].perm,
				     exp[i].addr);
		CHECK(!rc, "TRIGGER_IOPF: %s", RC(rc));
		STEP("7. IOMMU_TEST_OP_TRIGGER_IOPF dev_id=%u pasid=%u grpid=%u perm=0x%x addr=0x%" PRIx64,
		     idev_id, exp[i].pasid, exp[i].grpid, exp[i].perm, exp[i].addr);
	}

	revents = poll_in(fault_fd, 5000);
	CHECK(revents & POLLIN, "no POLLIN within 5s after the trigger (revents 0x%x)", revents);

	/* A buffer too small for the first group: 6.12.117 answers EINVAL (older: 0). */
	n = read(fault_fd, rec, 0);
	EXPECT(n == 0 || (n < 0 && errno == EINVAL), "read of 0 bytes gave %zd (%s)", n,
	       n < 0 ? strerror(errno) : "");
	STEP("   read(count=0) with a group pending (does not fit): %s",
	     n < 0 ? strerror(errno) : "0");
	n = read(fault_fd, rec, 41);
	EXPECT(n < 0 && errno == ESPIPE, "read of 41 bytes gave %zd (%s), want ESPIPE", n,
	       n < 0 ? strerror(errno) : "");

	memset(rec, 0xa5, sizeof(rec));
	n = read(fault_fd, rec, sizeof(rec));
	CHECK(n == (ssize_t)(nexp * sizeof(rec[0])), "read gave %zd (%s), want %zu", n,
	      n < 0 ? strerror(errno) : "", nexp * sizeof(rec[0]));
	STEP("8. read %zd bytes = %zd records", n, n / (ssize_t)sizeof(rec[0]));
	for (int i = 0; i < nexp; i++) {
		const struct iommu_hwpt_pgfault *f = &rec[i];
		uint32_t want_flags = IOMMU_PGFAULT_FLAGS_LAST_PAGE |
				      (exp[i].pasid ? IOMMU_PGFAULT_FLAGS_PASID_VALID : 0);

		print_fault(i, f);
		EXPECT(f->flags == want_flags, "flags 0x%x want 0x%x", f->flags, want_flags);
		EXPECT(f->dev_id == idev_id, "dev_id %u want %u", f->dev_id, idev_id);
		EXPECT(f->pasid == exp[i].pasid, "pasid %u want %u", f->pasid, exp[i].pasid);
		EXPECT(f->grpid == exp[i].grpid, "grpid %u want %u", f->grpid, exp[i].grpid);
		EXPECT(f->perm == exp[i].perm, "perm 0x%x want 0x%x", f->perm, exp[i].perm);
		EXPECT(f->__reserved == 0, "reserved 0x%x", f->__reserved);
		EXPECT(f->addr == exp[i].addr, "addr 0x%" PRIx64 " want 0x%" PRIx64,
		       (uint64_t)f->addr, exp[i].addr);
		EXPECT(f->length == 0, "length %u", f->length);
		EXPECT(f->cookie != 0, "cookie 0");
	}
	EXPECT(rec[0].cookie != rec[1].cookie, "two groups share cookie %u", rec[0].cookie);
	n = read(fault_fd, rec + 2, sizeof(rec[0]));
	EXPECT(n == 0, "read after draining gave %zd, want 0", n);

	/* The fault object is in use by the nested HWPT: busy. */
	rc = kt_destroy(fd, fault_id);
	EXPECT(rc == -EBUSY, "IOMMU_DESTROY of the busy fault object: %s, want EBUSY", RC(rc));

	resp[0] = (struct iommu_hwpt_page_response){ .cookie = rec[0].cookie,
						     .code = IOMMUFD_PAGE_RESP_SUCCESS };
	resp[1] = (struct iommu_hwpt_page_response){ .cookie = rec[1].cookie,
						     .code = IOMMUFD_PAGE_RESP_INVALID };
	n = write(fault_fd, resp, 7);
	EXPECT(n < 0 && errno == ESPIPE, "write of 7 bytes gave %zd (%s), want ESPIPE", n,
	       n < 0 ? strerror(errno) : "");
	n = write(fault_fd, resp, sizeof(resp));
	CHECK(n == (ssize_t)sizeof(resp), "write of 2 responses gave %zd (%s)", n,
	      n < 0 ? strerror(errno) : "");
	STEP("8. wrote responses: cookie %u SUCCESS, cookie %u INVALID: accepted (%zd bytes)",
	     resp[0].cookie, resp[1].cookie, n);
	n = write(fault_fd, resp, sizeof(resp[0]));
	EXPECT(n < 0 && errno == EINVAL, "second answer to cookie %u gave %zd (%s), want EINVAL",
	       resp[0].cookie, n, n < 0 ? strerror(errno) : "");
	STEP("   answering cookie %u again: %s", resp[0].cookie, n < 0 ? strerror(errno) : "accepted");

	/* A fault left pending is answered by the kernel when the device leaves the HWPT. */
	rc = kt_trigger_iopf(fd, idev_id, 0, 9, IOMMU_PGFAULT_PERM_READ, 0x1000);
	CHECK(!rc, "TRIGGER_IOPF: %s", RC(rc));
	n = read(fault_fd, rec, sizeof(rec));
	CHECK(n == sizeof(rec[0]), "read gave %zd", n);
	print_fault(0, &rec[0]);

	/* Teardown: back to the parent (auto-answers cookie rec[0]), then destroy. */
	rc = kt_mock_domain_replace(fd, stdev_id, parent_id);
	CHECK(!rc, "MOCK_DOMAIN_REPLACE back to the parent: %s", RC(rc));
	resp[0] = (struct iommu_hwpt_page_response){ .cookie = rec[0].cookie };
	n = write(fault_fd, resp, sizeof(resp[0]));
	EXPECT(n < 0 && errno == EINVAL,
	       "answer after the replace (kernel answered it) gave %zd (%s), want EINVAL", n,
	       n < 0 ? strerror(errno) : "");
	STEP("   replaced back to the parent; late answer to cookie %u: %s", rec[0].cookie,
	     n < 0 ? strerror(errno) : "accepted");

	rc = kt_destroy(fd, nested_id);
	EXPECT(!rc, "destroy nested HWPT: %s", RC(rc));
	rc = kt_trigger_iopf(fd, idev_id, 0, 1, IOMMU_PGFAULT_PERM_READ, 0x2000);
	STEP("   trigger on a device without a fault HWPT: %s", RC(rc));
	close(fault_fd);
	rc = kt_destroy(fd, fault_id);
	EXPECT(!rc, "destroy fault object: %s", RC(rc));
	rc = kt_destroy(fd, stdev_id);
	EXPECT(!rc, "destroy mock device: %s", RC(rc));
	rc = kt_destroy(fd, parent_id);
	EXPECT(!rc, "destroy parent HWPT: %s", RC(rc));
	rc = kt_destroy(fd, ioas_id);
	EXPECT(!rc, "destroy IOAS: %s", RC(rc));
	STEP("teardown done");

	/* The fixture helpers, as later tests use them. */
	{
		struct kt_mock m;

		rc = kt_mock_setup(&m, fd);
		CHECK(!rc, "kt_mock_setup: %s", RC(rc));
		rc = kt_fault_alloc(fd, &fault_id, &fault_fd);
		CHECK(!rc, "IOMMU_FAULT_QUEUE_ALLOC: %s", RC(rc));
		rc = kt_hwpt_alloc_nested(fd, m.idev_id, m.parent_id, fault_id, &nested_id);
		CHECK(!rc, "nested HWPT: %s", RC(rc));
		rc = kt_mock_domain_replace(fd, m.stdev_id, nested_id);
		CHECK(!rc, "replace: %s", RC(rc));
		rc = kt_trigger_iopf(fd, m.idev_id, 0, 1, IOMMU_PGFAULT_PERM_WRITE, 0x3000);
		CHECK(!rc, "trigger: %s", RC(rc));
		rc = kt_mock_domain_replace(fd, m.stdev_id, m.parent_id);
		EXPECT(!rc, "replace back: %s", RC(rc));
		n = read(fault_fd, rec, sizeof(rec));
		EXPECT(n == 0, "fault pending after the replace: read gave %zd, want 0", n);
		EXPECT(!kt_destroy(fd, nested_id), "destroy nested");
		close(fault_fd);
		EXPECT(!kt_destroy(fd, fault_id), "destroy fault");
		rc = kt_mock_teardown(&m);
		EXPECT(!rc, "kt_mock_teardown: %s", RC(rc));
		STEP("kt_mock_setup/kt_mock_teardown fixture: %s", failures ? "errors" : "ok");
	}

	close(fd);
	if (failures) {
		STEP("FAIL (%d failed checks)", failures);
		return 1;
	}
	STEP("PASS");
	return 0;
}
