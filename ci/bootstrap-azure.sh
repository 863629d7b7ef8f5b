#!/usr/bin/env bash
# Creates, once, the identity the GitHub workflows deploy as, and prints the GitHub variables to set.
#
#   ci/bootstrap-azure.sh --repo OWNER/NAME [--subscription ID] [--location REGION]
#                         [--resource-group NAME] [--name NAME] [--environment NAME]... [--owner]
#                         [--grant-contributor]
#
# What it makes (each only when missing, so a second run creates nothing):
#   - a resource group holding a user-assigned managed identity (no Entra ID app registration, so
#     no directory role is needed to run this script: Owner, or User Access Administrator plus
#     Contributor, on the subscription is enough);
#   - federated credentials trusting GitHub's OIDC tokens for the repository's branch main (drift
#     checks), its pull_request event (previews, review stacks) and each GitHub environment (deploys);
#   - role assignments on the subscription, which `pulumi up` needs to create resource groups, the
#     pool and its Session Executor grants: Contributor, plus Role Based Access Control
#     Administrator constrained to assigning and removing only the Session Executor role
#     (--owner assigns Owner instead: simpler, but the identity could then grant any role to anyone).
#     For stacks that set grantContributor: true, --grant-contributor lets it assign Container Apps
#     SessionPools Contributor too (an identity made without it: remove its Role Based Access Control
#     Administrator assignment first, as an existing assignment is kept as it is).
set -euo pipefail

SESSION_EXECUTOR_ROLE=0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0
SESSION_POOLS_CONTRIBUTOR_ROLE=f7669afb-68b2-44b4-9c5f-6d2a47fddda0
GITHUB_ISSUER=https://token.actions.githubusercontent.com
AUDIENCE=api://AzureADTokenExchange

repo=""
subscription=""
location=northcentralus
group=dynamic-sessions-ci
name=dynamic-sessions-deployer
environments=()
owner=false
grant_contributor=false

fail() {
  printf 'bootstrap-azure: %s\n' "$*" >&2
  exit 2
}

say() {
  printf '%s\n' "$*" >&2
}

value_of() {
  [ "$#" -ge 2 ] && [ -n "$2" ] || fail "$1 needs a value"
  printf '%s' "$2"
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --repo) repo=$(value_of "$@"); shift 2 ;;
    --subscription) subscription=$(value_of "$@"); shift 2 ;;
    --location) location=$(value_of "$@"); shift 2 ;;
    --resource-group) group=$(value_of "$@"); shift 2 ;;
    --name) name=$(value_of "$@"); shift 2 ;;
    --environment) environments+=("$(value_of "$@")"); shift 2 ;;
    --owner) owner=true; shift ;;
    --grant-contributor) grant_contributor=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown argument '$1': see --help" ;;
  esac
done

[ "${#environments[@]}" -gt 0 ] || environments=(dev prod)
[[ "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] \
  || fail "--repo '$repo' is not valid: OWNER/NAME of the GitHub repository is allowed"
for environment in "${environments[@]}"; do
  [[ "$environment" =~ ^[A-Za-z0-9_.-]+$ ]] \
    || fail "--environment '$environment' is not valid: letters, digits, '.', '_' and '-' are allowed"
done
command -v az >/dev/null 2>&1 || fail "the az CLI is not on PATH (https://learn.microsoft.com/cli/azure/install-azure-cli)"

if [ -z "$subscription" ]; then
  subscription=$(az account show --query id --output tsv)
fi
tenant=$(az account show --subscription "$subscription" --query tenantId --output tsv)
scope="/subscriptions/$subscription"
in_group=(--resource-group "$group" --subscription "$subscription")

if [ "$(az group exists --name "$group" --subscription "$subscription")" = true ]; then
  say "exists:  resource group $group"
else
  az group create --name "$group" --location "$location" --subscription "$subscription" --output none
  say "created: resource group $group ($location)"
fi

if az identity show --name "$name" "${in_group[@]}" --output none 2>/dev/null; then
  say "exists:  managed identity $name"
else
  az identity create --name "$name" --location "$location" "${in_group[@]}" --output none
  say "created: managed identity $name"
fi
client_id=$(az identity show --name "$name" "${in_group[@]}" --query clientId --output tsv)
principal_id=$(az identity show --name "$name" "${in_group[@]}" --query principalId --output tsv)

federate() {
  local credential=$1 subject=$2
  if az identity federated-credential show --name "$credential" --identity-name "$name" "${in_group[@]}" \
    --output none 2>/dev/null; then
    say "exists:  federated credential $credential ($subject)"
    return
  fi
  az identity federated-credential create --name "$credential" --identity-name "$name" "${in_group[@]}" \
    --issuer "$GITHUB_ISSUER" --subject "$subject" --audiences "$AUDIENCE" --output none
  say "created: federated credential $credential ($subject)"
}

federate github-branch-main "repo:$repo:ref:refs/heads/main"
federate github-pull-request "repo:$repo:pull_request"
for environment in "${environments[@]}"; do
  federate "github-environment-$environment" "repo:$repo:environment:$environment"
done

assign() {
  local role=$1
  shift
  local count
  count=$(az role assignment list --assignee "$principal_id" --role "$role" --scope "$scope" \
    --query 'length(@)' --output tsv)
  if [ "$count" != 0 ]; then
    say "exists:  role $role on $scope"
    return
  fi
  az role assignment create --assignee-object-id "$principal_id" --assignee-principal-type ServicePrincipal \
    --role "$role" --scope "$scope" "$@" --output none
  say "created: role $role on $scope"
}

if [ "$owner" = true ]; then
  assign Owner
else
  assign Contributor
  # Writes and deletes of role assignments are allowed only for the roles the program grants.
  roles_granted=$SESSION_EXECUTOR_ROLE
  if [ "$grant_contributor" = true ]; then
    roles_granted="$SESSION_EXECUTOR_ROLE, $SESSION_POOLS_CONTRIBUTOR_ROLE"
  fi
  only_granted_roles="((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR \
(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals \
{$roles_granted})) AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR \
(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals \
{$roles_granted}))"
  assign "Role Based Access Control Administrator" --condition "$only_granted_roles" --condition-version 2.0
fi

cat <<VARIABLES
Set these GitHub repository variables (Settings > Secrets and variables > Actions > Variables),
or with the GitHub CLI:

gh variable set ARM_CLIENT_ID --repo $repo --body $client_id
gh variable set ARM_TENANT_ID --repo $repo --body $tenant
gh variable set ARM_SUBSCRIPTION_ID --repo $repo --body $subscription
VARIABLES
