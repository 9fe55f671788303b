/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Built outside the tree from pkg-config alone, against an installed libiopf
 * (check-install.sh, tests/install-system.sh). */
#include <stdio.h>
#include <libiopf.h>
#include <libiopf/mock.h>

int main(void)
{
	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	uint64_t feat = 0;
	int rc;

	if (iopf_mock_new(NULL, &m) || iopf_mock_ctx_new(m, &ctx))
		return 1;
	rc = iopf_ctx_probe(ctx, &feat);
	printf("installed libiopf: probe %d, features 0x%llx\n", rc, (unsigned long long)feat);
	iopf_ctx_free(ctx);
	iopf_mock_free(m);
	return rc ? 1 : 0;
}
