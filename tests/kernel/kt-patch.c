/* SPDX-License-Identifier: MIT */
/*
 * patch: proves the libiopf test-only patches of the kernel's selftest driver
 * (tests/kernel/patches/<version>/) on the running kernel, with raw ioctls (no libiopf):
 *
 * 1. kt_patched() says the two ops exist (the tier always builds patched kernels: a
 *    kernel without them is a failure here, not a skip).
 * 2. Three records of one group, LAST_PAGE only on the last: one read gives exactly one
 *    group of 3 records with one cookie, only the last record flagged LAST_PAGE; nothing
 *    reached the device before the answer.
 * 3. After answering (SUCCESS, then a second group INVALID), the response stats show
 *    exactly those answers with their codes and the last (grpid, pasid, code).
 * 4. A partial group (non-last records only) is not delivered, and is dropped when the
 *    device detaches from the fault-capable HWPT: after reattaching, the group's last
 *    record arrives as a group of 1 (the old records never come back), and the dropped
 *    partial got no response.
 * 5. A group read but not answered when the device detaches is answered INVALID by the
 *    kernel (counted by the device); its cookie is then refused (EINVAL).
 * 6. The reset flag zeroes the counters; a dev_id that is no device gives ENOENT.
 *
 * Exit: 0 pass, 77 skip (no iommufd test support here), 1 fail.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/iommufd.h> /* the kernel's, from <cachedir>/hdr/include */
#include <iommufd_test.h>

#include "kt-helper.h"
#include "kt-report.h"

#define PROG "patch"




#define NREC 16

static int fd;
static uint32_t idev_id;

/* Read whatever is queued (the fault fd never blocks: 0 when empty). Returns records. */
static int read_faults(int fault_fd, struct iommu_hwpt_pgfault *f)
{
	ssize_t n = read(fault_fd, f, NREC * sizeof(*f));

	CHECK(n >= 0, "read fault fd: %s", strerror(errno));
	CHECK(n % (ssize_t)sizeof(*f) == 0, "read %zd bytes, not whole records", n);
	return (int)(n / (ssize_t)sizeof(*f));
}

static int answer(int fault_fd, uint32_t cookie, uint32_t code)
{
	struct iommu_hwpt_page_response r = { .cookie = cookie, .code = code };
	ssize_t n = write(fault_fd, &r, sizeof(r));

	return n == (ssize_t)sizeof(r) ? 0 : n < 0 ? -errno : -EIO;
}

static struct kt_resp_stats stats(int reset)
{
	struct kt_resp_stats st;
	int rc = kt_resp_stats(fd, idev_id, &st, reset);

	CHECK(!rc, "kt_resp_stats: %s", RC(rc));
	STEP("   device saw: success=%" PRIu64 " invalid=%" PRIu64 " failure=%" PRIu64
	     " total=%" PRIu64 " last=(grpid %u, pasid %u, code %u)",
	     st.success, st.invalid, st.failure, st.total, st.last_grpid, st.last_pasid,
	     st.last_code);
	return st;
}

static void expect_stats(struct kt_resp_stats st, uint64_t success, uint64_t invalid,
			 uint32_t grpid, uint32_t pasid, uint32_t code)
{
	CHECK(st.success == success && st.invalid == invalid && st.failure == 0 &&
		      st.total == success + invalid,
	      "expected success=%" PRIu64 " invalid=%" PRIu64 " failure=0", success, invalid);
	if (st.total)
		CHECK(st.last_grpid == grpid && st.last_pasid == pasid && st.last_code == code,
		      "expected last (grpid %u, pasid %u, code %u)", grpid, pasid, code);
}

int main(void)
{
	struct iommu_hwpt_pgfault f[NREC];
	struct kt_resp_stats st;
	struct kt_mock m;
	uint32_t fault_id, nested_id, cookie;
	int fault_fd, rc, n, i, kver, nlast;
	const uint64_t base = 0x100000;

	fd = kt_open_or_skip(PROG);
	kver = kt_kernel_version();
	CHECK(kver > 0, "kt_kernel_version: %s", RC(kver));
	rc = kt_patched(fd);
	STEP("1. Linux %d.%d, kt_patched: %d", kver / 100, kver % 100, rc);
	CHECK(rc == 1, "the test kernel lacks the libiopf selftest patches (%d)", rc);

	rc = kt_mock_setup(&m, fd);
	CHECK(!rc, "kt_mock_setup: %s", RC(rc));
	idev_id = m.idev_id;
	rc = kt_fault_alloc(fd, &fault_id, &fault_fd);
	CHECK(!rc, "kt_fault_alloc: %s", RC(rc));
	rc = kt_hwpt_alloc_nested(fd, m.idev_id, m.parent_id, fault_id, &nested_id);
	CHECK(!rc, "nested HWPT with fault: %s", RC(rc));
	rc = kt_mock_domain_replace(fd, m.stdev_id, nested_id);
	CHECK(!rc, "attach to the nested HWPT: %s", RC(rc));
	st = stats(0);
	expect_stats(st, 0, 0, 0, 0, 0);

	/* 2. one group of three records */
	STEP("2. group 7: 3 records, LAST_PAGE on the last only");
	for (i = 0; i < 3; i++) {
		rc = kt_trigger_iopf_flags(fd, m.idev_id, 0, 7, IOMMU_PGFAULT_PERM_READ,
					   base + (uint64_t)i * 0x1000, i == 2);
		CHECK(!rc, "trigger record %d: %s", i, RC(rc));
		if (i < 2)
			CHECK(read_faults(fault_fd, f) == 0, "a partial group was delivered");
	}
	n = read_faults(fault_fd, f);
	CHECK(n == 3, "read %d records, want one group of 3", n);
	cookie = f[0].cookie;
	nlast = 0;
	for (i = 0; i < n; i++) {
		STEP("   record %d: flags=0x%x grpid=%u addr=0x%" PRIx64 " cookie=%u", i, f[i].flags,
		     f[i].grpid, (uint64_t)f[i].addr, f[i].cookie);
		CHECK(f[i].grpid == 7 && f[i].cookie == cookie && f[i].dev_id == m.idev_id,
		      "record %d not of the group", i);
		if (f[i].flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE) {
			nlast++;
			CHECK(f[i].addr == base + 0x2000, "LAST_PAGE on the wrong record");
		}
	}
	CHECK(nlast == 1, "%d records with LAST_PAGE, want 1", nlast);
	st = stats(0);
	expect_stats(st, 0, 0, 0, 0, 0);

	/* 3. answers reach the device, as written */
	rc = answer(fault_fd, cookie, IOMMUFD_PAGE_RESP_SUCCESS);
	CHECK(!rc, "answer group 7: %s", RC(rc));
	STEP("3. answered group 7 SUCCESS");
	expect_stats(stats(0), 1, 0, 7, 0, IOMMUFD_PAGE_RESP_SUCCESS);
	CHECK(answer(fault_fd, cookie, IOMMUFD_PAGE_RESP_SUCCESS) == -EINVAL,
	      "a second answer to a cookie was taken");
	expect_stats(stats(0), 1, 0, 7, 0, IOMMUFD_PAGE_RESP_SUCCESS);

	rc = kt_trigger_iopf_flags(fd, m.idev_id, 0, 9, IOMMU_PGFAULT_PERM_WRITE, base, 1);
	CHECK(!rc, "trigger group 9: %s", RC(rc));
	n = read_faults(fault_fd, f);
	CHECK(n == 1 && f[0].grpid == 9, "read %d records, want group 9 of 1", n);
	rc = answer(fault_fd, f[0].cookie, IOMMUFD_PAGE_RESP_INVALID);
	CHECK(!rc, "answer group 9: %s", RC(rc));
	STEP("   answered group 9 INVALID");
	expect_stats(stats(0), 1, 1, 9, 0, IOMMUFD_PAGE_RESP_INVALID);

	/* 4. a partial group is dropped on detach */
	STEP("4. group 11: 2 non-last records, then detach and reattach");
	for (i = 0; i < 2; i++) {
		rc = kt_trigger_iopf_flags(fd, m.idev_id, 0, 11, IOMMU_PGFAULT_PERM_READ,
					   base + (uint64_t)i * 0x1000, 0);
		CHECK(!rc, "trigger partial record %d: %s", i, RC(rc));
	}
	CHECK(read_faults(fault_fd, f) == 0, "a partial group was delivered");
	rc = kt_mock_domain_replace(fd, m.stdev_id, m.parent_id);
	CHECK(!rc, "detach (replace to the parent): %s", RC(rc));
	expect_stats(stats(0), 1, 1, 9, 0, IOMMUFD_PAGE_RESP_INVALID);
	rc = kt_mock_domain_replace(fd, m.stdev_id, nested_id);
	CHECK(!rc, "reattach: %s", RC(rc));
	rc = kt_trigger_iopf_flags(fd, m.idev_id, 0, 11, IOMMU_PGFAULT_PERM_READ, base + 0x5000, 1);
	CHECK(!rc, "trigger the last record of group 11: %s", RC(rc));
	n = read_faults(fault_fd, f);
	CHECK(n == 1 && f[0].grpid == 11 && f[0].addr == base + 0x5000,
	      "read %d records, want only the new last record of group 11", n);
	rc = answer(fault_fd, f[0].cookie, IOMMUFD_PAGE_RESP_SUCCESS);
	CHECK(!rc, "answer group 11: %s", RC(rc));
	STEP("   group 11 came back as 1 record (the partial was dropped), answered SUCCESS");
	expect_stats(stats(0), 2, 1, 11, 0, IOMMUFD_PAGE_RESP_SUCCESS);

	/* 5. read, not answered, then detach: the kernel answers INVALID */
	rc = kt_trigger_iopf_flags(fd, m.idev_id, 0, 13, IOMMU_PGFAULT_PERM_READ, base, 0);
	CHECK(!rc, "trigger group 13 record 0: %s", RC(rc));
	rc = kt_trigger_iopf_flags(fd, m.idev_id, 0, 13, IOMMU_PGFAULT_PERM_READ, base + 0x1000, 1);
	CHECK(!rc, "trigger group 13 record 1: %s", RC(rc));
	n = read_faults(fault_fd, f);
	CHECK(n == 2 && f[0].grpid == 13 && f[1].cookie == f[0].cookie,
	      "read %d records, want group 13 of 2", n);
	cookie = f[0].cookie;
	rc = kt_mock_domain_replace(fd, m.stdev_id, m.parent_id);
	CHECK(!rc, "detach: %s", RC(rc));
	STEP("5. group 13 read, not answered, device detached");
	expect_stats(stats(0), 2, 2, 13, 0, IOMMUFD_PAGE_RESP_INVALID);
	rc = answer(fault_fd, cookie, IOMMUFD_PAGE_RESP_SUCCESS);
	CHECK(rc == -EINVAL, "late answer to an auto-answered group: %s, want EINVAL", RC(rc));
	expect_stats(stats(0), 2, 2, 13, 0, IOMMUFD_PAGE_RESP_INVALID);

	/* 6. reset; errors */
	STEP("6. read with reset, then again");
	expect_stats(stats(1), 2, 2, 13, 0, IOMMUFD_PAGE_RESP_INVALID);
	st = stats(0);
	CHECK(st.total == 0 && st.last_grpid == 0 && st.last_code == 0, "reset did not zero");
	rc = kt_resp_stats(fd, m.ioas_id, &st, 0);
	STEP("   stats of an IOAS id: %s", RC(rc));
	CHECK(rc == -ENOENT, "stats of a non-device: %s, want ENOENT", RC(rc));
	rc = kt_trigger_iopf_flags(fd, m.ioas_id, 0, 1, 0, base, 0);
	CHECK(rc == -ENOENT, "trigger on a non-device: %s, want ENOENT", RC(rc));

	close(fault_fd);
	rc = kt_destroy(fd, nested_id);
	CHECK(!rc, "destroy nested: %s", RC(rc));
	rc = kt_destroy(fd, fault_id);
	CHECK(!rc, "destroy fault: %s", RC(rc));
	rc = kt_mock_teardown(&m);
	CHECK(!rc, "teardown: %s", RC(rc));
	close(fd);
	STEP("PASS");
	return 0;
}
