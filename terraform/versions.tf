# Works with Terraform >= 1.6 and OpenTofu >= 1.6. The provider source has no
# host name, so each tool resolves it in its own default registry.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = ">= 3.0.0, < 4.0.0"
    }
  }
}
