"""The regions Microsoft lists for dynamic sessions: the default allow-list of the region rule.

From Microsoft's dynamic sessions overview ("Supported regions",
https://learn.microsoft.com/azure/container-apps/sessions#supported-regions), which lists each of these for both
code interpreter and custom container sessions. The project's deploy guide shows the same list by display name;
a test holds the two equal.
"""

SESSION_REGIONS = (
    # Americas
    "brazilsouth",
    "canadacentral",
    "canadaeast",
    "centralus",
    "eastus",
    "eastus2",
    "northcentralus",
    "westcentralus",
    "westus",
    "westus2",
    "westus3",
    # Europe
    "francecentral",
    "francesouth",
    "germanywestcentral",
    "italynorth",
    "northeurope",
    "norwayeast",
    "polandcentral",
    "spaincentral",
    "swedencentral",
    "switzerlandnorth",
    "switzerlandwest",
    "uksouth",
    "ukwest",
    "westeurope",
    # Asia Pacific
    "australiaeast",
    "australiasoutheast",
    "centralindia",
    "eastasia",
    "japaneast",
    "japanwest",
    "koreacentral",
    "southindia",
    "southeastasia",
    # Middle East and Africa
    "southafricanorth",
    "uaenorth",
)
"""ARM location names (lowercase, no spaces), as a stack's `azure-native:location` holds them."""


def location_name(location: str) -> str:
    """ARM's form of a location: `North Central US` and `northcentralus` are the same region."""
    return location.replace(" ", "").lower()
