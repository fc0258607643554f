#!/bin/sh
# One-shot job of the temporalio/admin-tools image, once the server is healthy: create
# the engine's namespace and register its search attributes (domain/search_attributes.py;
# a test checks this list against it). Idempotent.
set -eu
: "${TEMPORAL_ADDRESS:?}"
namespace="${PAYMENTS_TEMPORAL_NAMESPACE:-default}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  echo "waiting for Temporal at $TEMPORAL_ADDRESS"
  sleep 2
done

if ! temporal operator namespace describe -n "$namespace" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  temporal operator namespace create -n "$namespace" --address "$TEMPORAL_ADDRESS"
fi

for attribute in \
  PaymentKind=Keyword \
  PaymentStatus=Keyword \
  PaymentProvider=Keyword \
  Country=Keyword \
  Currency=Keyword \
  AmountMinor=Int \
  MerchantReference=Keyword \
  MerchantId=Keyword \
  OriginalReference=Keyword; do
  name="${attribute%%=*}"
  type="${attribute#*=}"
  temporal operator search-attribute create --namespace "$namespace" \
    --address "$TEMPORAL_ADDRESS" --name "$name" --type "$type" \
    || echo "search attribute $name exists"
done
echo "namespace $namespace is ready"
