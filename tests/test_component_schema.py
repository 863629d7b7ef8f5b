"""The component can be hosted as a multi-language package: Pulumi's analyzer infers its schema."""

from pulumi.provider.experimental.analyzer import Analyzer

from components.session_pool import SessionPool


def test_component_passes_pulumis_component_analyzer():
    result = Analyzer("dynamic-sessions").analyze([SessionPool])
    component = result["component_definitions"]["SessionPool"]
    assert set(component.inputs) == {
        "location",
        "poolName",
        "containerType",
        "maxSessions",
        "cooldownSeconds",
        "readySessions",
        "egressEnabled",
        "grantDeployer",
        "deployerPrincipalType",
        "executors",
        "tags",
    }
    assert set(component.outputs) == {
        "poolManagementEndpoint",
        "poolName",
        "poolId",
        "resourceGroupName",
        "location",
        "tokenScope",
    }
    assert {name for name, prop in component.inputs.items() if not prop.optional} == {"location", "poolName"}
    assert all(prop.description for prop in component.inputs.values())
    assert all(prop.description for prop in component.outputs.values())
    assert "ExecutorArgs" in result["type_definitions"]
