"""Training-job custom resources checked offline like the API server (chapter 19)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from mlops_course import crd_checks, manifests

IMAGE = "registry.example.com/kestrel/credit-train:1.4.0"
GPU_NODE = {
    "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
    "tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ],
}


def container(name: str, gpus: int = 0) -> dict:
    limits = {
        "cpu": "4",
        "memory": "16Gi",
        **({"nvidia.com/gpu": gpus} if gpus else {}),
    }
    return {"name": name, "image": IMAGE, "resources": {"limits": limits}}


def rayjob() -> dict:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": "credit-train",
            "labels": {"kueue.x-k8s.io/queue-name": "team-credit-gpu"},
        },
        "spec": {
            "entrypoint": "python train.py",
            "shutdownAfterJobFinishes": True,
            "rayClusterSpec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [container("head")]}},
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "gpu",
                        "replicas": 2,
                        "minReplicas": 2,
                        "maxReplicas": 2,
                        "template": {
                            "spec": {"containers": [container("worker", 1)], **GPU_NODE}
                        },
                    }
                ],
            },
        },
    }


def trainjob() -> dict:
    patch = {"template": {"spec": {"template": {"spec": GPU_NODE}}}}
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "credit-train-ddp"},
        "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {
                "image": IMAGE,
                "numNodes": 2,
                "numProcPerNode": 1,
                "resourcesPerNode": {"limits": {"nvidia.com/gpu": 1}},
            },
            "runtimePatches": [
                {
                    "manager": "kestrel.example.com/platform",
                    "trainingRuntimeSpec": {
                        "template": {
                            "spec": {"replicatedJobs": [{"name": "node", **patch}]}
                        }
                    },
                }
            ],
        },
    }


def test_the_vendored_crd_schemas_are_valid_and_say_where_they_come_from():
    for kind, name in crd_checks.CRD_SCHEMAS.items():
        schema = crd_checks.crd_schema(kind)
        Draft202012Validator.check_schema(schema)
        assert "Apache-2.0" in schema["$comment"] and "commit" in schema["$comment"]
        assert "status" not in schema["properties"]
        assert name in manifests.vendored_schemas()
    with pytest.raises(ValueError, match="no vendored CRD schema"):
        crd_checks.crd_schema("PyTorchJob")


@pytest.mark.parametrize("make", [rayjob, trainjob])
def test_a_well_formed_job_passes(make):
    assert crd_checks.api_server_errors(make()) == []


def test_a_broken_rayjob_is_refused_with_each_path():
    broken = rayjob()
    group = broken["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    group["replicas"] = "two"
    group["template"]["spec"]["nodeSelecter"] = group["template"]["spec"].pop(
        "nodeSelector"
    )
    group["template"]["spec"]["containers"][0]["resources"]["limits"][
        "nvidia.com/gpu"
    ] = "one"
    del broken["spec"]["rayClusterSpec"]["headGroupSpec"]
    errors = crd_checks.api_server_errors(broken)
    prefix = "spec.rayClusterSpec.workerGroupSpecs.0."
    assert [e.split(":")[0] for e in errors] == [
        prefix + "replicas",
        prefix + "template.spec.containers.0.resources.limits.nvidia.com/gpu",
        prefix + "template.spec",
        "spec.rayClusterSpec",
    ]
    assert "'nodeSelecter' was unexpected" in errors[2]
    assert "'headGroupSpec' is a required property" in errors[3]


def test_a_broken_trainjob_is_refused():
    broken = trainjob()
    broken["spec"]["trainer"]["numNodes"] = "2"
    del broken["spec"]["runtimeRef"]
    assert crd_checks.api_server_errors(broken) == [
        "spec.trainer.numNodes: '2' is not of type 'integer'",
        "spec: 'runtimeRef' is a required property",
    ]
    assert crd_checks.api_server_errors({"kind": "PyTorchJob"}) == [
        "kind: 'PyTorchJob' is not one of ['RayJob', 'TrainJob']"
    ]


def test_only_strict_validation_catches_a_misspelt_field():
    typo = trainjob()
    typo["spec"]["trainer"]["numNode"] = typo["spec"]["trainer"].pop("numNodes")
    schema = crd_checks.crd_schema("TrainJob")
    assert manifests.schema_errors(typo, schema) == []  # open: allowed
    assert crd_checks.api_server_errors(typo) == [
        "spec.trainer: Additional properties are not allowed ('numNode' was unexpected)"
    ]
    # a node that preserves unknown fields stays open
    open_node = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    loose = {"type": "object", "properties": {"a": open_node}}
    assert manifests.schema_errors({"a": {"b": 1}}, crd_checks.strict(loose)) == []
    assert crd_checks.strict(loose)["additionalProperties"] is False


def test_cel_rules_are_listed_not_checked():
    rules = crd_checks.unchecked_rules(crd_checks.crd_schema("TrainJob"))
    assert ("(root)", "metadata.name must match RFC 1035 DNS label format") in rules
    upper = trainjob()
    upper["metadata"]["name"] = "Credit_Train"  # only the API server refuses it
    assert crd_checks.api_server_errors(upper) == []
    ray_rules = crd_checks.unchecked_rules(crd_checks.crd_schema("RayJob"))
    assert any(path == "spec.managedBy" for path, _ in ray_rules)
