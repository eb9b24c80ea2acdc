# Terraform / OpenTofu targets for Chameleon Cloud. Included by the root
# Makefile, so every path is relative to the repository root.

TF_DIR       ?= terraform
TF_TOOLS_DIR ?= $(or $(TRANSCEPT_TOOLS_DIR),$(HOME)/.cache/transcept-bin)
# The OpenTofu that .ci/tf-tools.sh builds, and its CLI config (dev_overrides
# pointing at the locally built OpenStack provider): offline checks only.
TF_TOFU      ?= $(TF_TOOLS_DIR)/tofu
TF_CLI_RC    ?= $(TF_TOOLS_DIR)/tofurc
# What operators run against the cloud: terraform or tofu from PATH.
TF           ?= $(shell command -v terraform 2>/dev/null || command -v tofu 2>/dev/null || echo terraform)
TF_GO        ?= go
TF_SCRIPTS   := $(wildcard $(TF_DIR)/scripts/*.sh) .ci/tf-tools.sh
TF_TOFU_ENV  := TF_CLI_CONFIG_FILE=$(TF_CLI_RC) TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

.PHONY: tf-tools tf-validate tf-plan tf-apply tf-destroy tf-kubeconfig gpu-lease

tf-tools: ## Build OpenTofu and the OpenStack provider from the Go module proxy (cached; no-op when built)
	@.ci/tf-tools.sh

tf-validate: tf-tools ## Check terraform/ offline: fmt, validate, shellcheck, bash -n, cloud-init render+parse, plan test
	$(TF_TOFU_ENV) $(TF_TOFU) fmt -check -recursive -diff $(TF_DIR)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		$(TF_TOFU_ENV) TF_DATA_DIR=$$tmp $(TF_TOFU) -chdir=$(TF_DIR) validate -no-color
	shellcheck $(TF_SCRIPTS)
	@for f in $(TF_SCRIPTS); do bash -n "$$f" || exit 1; done && echo "bash -n: ok"
	TRANSCEPT_TOOLS_DIR=$(TF_TOOLS_DIR) TRANSCEPT_REQUIRE_SERVICES=1 $(TF_GO) test -count=1 ./tests/terraform/...

tf-plan: ## Plan the Chameleon cluster (needs credentials: openrc or OS_CLOUD, and make gpu-lease first)
	$(TF) -chdir=$(TF_DIR) init -input=false
	$(TF) -chdir=$(TF_DIR) plan -input=false -out=tfplan

tf-apply: ## Apply the saved plan (make tf-plan first); prints the next steps
	$(TF) -chdir=$(TF_DIR) apply -input=false tfplan
	@$(TF) -chdir=$(TF_DIR) output -raw next_steps

tf-destroy: ## Destroy the cluster (the lease stays: make gpu-lease LEASE_ACTION=delete)
	$(TF) -chdir=$(TF_DIR) destroy

tf-kubeconfig: ## Fetch the cluster's kubeconfig into ./kubeconfig-<name_prefix>.yaml
	@$(TF) -chdir=$(TF_DIR) output -raw kubeconfig_command | sh -x

gpu-lease: ## Reserve GPU hosts with a Blazar lease and write terraform/lease.auto.tfvars (LEASE_ACTION=status|extend|delete|tfvars)
	$(TF_DIR)/scripts/gpu-lease.sh $(LEASE_ACTION)
