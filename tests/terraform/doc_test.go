// Package terraform_test proves terraform/ without a cloud: it plans the
// Chameleon configuration offline with OpenTofu and the OpenStack provider
// built by .ci/tf-tools.sh (through a dev_overrides CLI config), asserts the
// planned resources, renders the cloud-init templates with `tofu console` and
// parses them as YAML, and runs the Blazar lease script against a fake
// openstack CLI.
//
// The tests find the tools in $TRANSCEPT_TOOLS_DIR (default
// ~/.cache/transcept-bin) and skip when they are missing, unless
// TRANSCEPT_REQUIRE_SERVICES=1, which turns the skip into a failure.
package terraform_test
