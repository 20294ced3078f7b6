import { describe, expect, it } from "vitest";
import {
  DeploymentLike,
  EndpointSliceLike,
  PodLike,
  deploymentProblems,
  endpointViews,
  imagePullFailure,
  readyEndpointCount,
  serviceEndpointProblems,
} from "../../../cli/release/readiness";

const rolledOut: DeploymentLike = {
  metadata: { name: "web-green", generation: 4 },
  spec: { replicas: 2 },
  status: {
    observedGeneration: 4,
    replicas: 2,
    updatedReplicas: 2,
    availableReplicas: 2,
    readyReplicas: 2,
  },
};
const with_ = (
  status: Partial<NonNullable<DeploymentLike["status"]>>,
  replicas = 2,
): DeploymentLike => ({
  ...rolledOut,
  spec: { replicas },
  status: { ...rolledOut.status, ...status },
});

describe("deploymentProblems", () => {
  it.each<[string, DeploymentLike, string[]]>([
    ["rolled out and available", rolledOut, []],
    [
      "the controller has not seen the new spec",
      with_({ observedGeneration: 3 }),
      [
        "Deployment web-green: observedGeneration 3 != generation 4: the controller has not seen the latest spec",
      ],
    ],
    [
      "one replica not available",
      with_({ availableReplicas: 1 }),
      ["Deployment web-green: 1/2 replicas available"],
    ],
    [
      "old pods still there (rollout in progress)",
      with_({ replicas: 3 }),
      ["Deployment web-green: 3 pods exist, want exactly 2 (a rollout is still in progress)"],
    ],
    [
      "not all updated",
      with_({ updatedReplicas: 1 }),
      ["Deployment web-green: 1/2 replicas updated"],
    ],
    [
      "scaled to zero",
      with_({ replicas: 0, updatedReplicas: 0, availableReplicas: 0 }, 0),
      ["Deployment web-green has 0 replicas; it needs at least 1"],
    ],
  ])("%s", (_name, deployment, problems) => {
    expect(deploymentProblems(deployment)).toEqual(problems);
  });
});

const slice = (
  name: string,
  endpoints: Array<[string, string, boolean | undefined]>,
): EndpointSliceLike => ({
  metadata: { name },
  endpoints: endpoints.map(([address, pod, ready]) => ({
    addresses: [address],
    conditions: ready === undefined ? {} : { ready },
    targetRef: { kind: "Pod", name: pod },
  })),
});
const colors = new Map([
  ["web-green-a", "green"],
  ["web-green-b", "green"],
  ["web-blue-a", "blue"],
]);

describe("Service endpoints of one color", () => {
  it("counts ready endpoints across slices; an unset ready condition counts as ready", () => {
    expect(
      readyEndpointCount([
        slice("s1", [["10.0.0.1", "web-green-a", true]]),
        slice("s2", [
          ["10.0.0.2", "web-green-b", undefined],
          ["10.0.0.3", "web-blue-a", false],
        ]),
      ]),
    ).toBe(2);
    expect(readyEndpointCount([{ metadata: { name: "empty" }, endpoints: null }])).toBe(0);
  });

  it.each<[string, EndpointSliceLike[], string[]]>([
    [
      "only ready green pods",
      [
        slice("s", [
          ["10.0.0.1", "web-green-a", true],
          ["10.0.0.2", "web-green-b", true],
        ]),
      ],
      [],
    ],
    [
      "a blue pod still listed",
      [
        slice("s", [
          ["10.0.0.1", "web-green-a", true],
          ["10.0.0.2", "web-green-b", true],
          ["10.0.0.3", "web-blue-a", true],
        ]),
      ],
      ["Service web-preview lists 10.0.0.3 (pod web-blue-a) of color blue, not green"],
    ],
    [
      "a green pod not ready",
      [
        slice("s", [
          ["10.0.0.1", "web-green-a", true],
          ["10.0.0.2", "web-green-b", false],
        ]),
      ],
      [
        "Service web-preview lists 10.0.0.2 (pod web-green-b) as not ready",
        "Service web-preview has 1 ready green endpoints, want 2",
      ],
    ],
    ["nothing listed yet", [], ["Service web-preview has 0 ready green endpoints, want 2"]],
    [
      "a terminating green pod (scaled down) beside two ready ones",
      [
        {
          ...slice("s", [
            ["10.0.0.1", "web-green-a", true],
            ["10.0.0.2", "web-green-b", true],
          ]),
          endpoints: [
            ...slice("s", [
              ["10.0.0.1", "web-green-a", true],
              ["10.0.0.2", "web-green-b", true],
            ]).endpoints!,
            {
              addresses: ["10.0.0.3"],
              conditions: { ready: false, serving: true, terminating: true },
              targetRef: { kind: "Pod", name: "web-green-old" },
            },
          ],
        },
      ],
      [],
    ],
    [
      "terminating pods do not count toward the minimum (negative control)",
      [
        {
          metadata: { name: "s" },
          endpoints: [
            {
              addresses: ["10.0.0.3"],
              conditions: { ready: false, serving: true, terminating: true },
              targetRef: { kind: "Pod", name: "web-green-old" },
            },
          ],
        },
      ],
      ["Service web-preview has 0 ready green endpoints, want 2"],
    ],
  ])("%s", (_name, slices, problems) => {
    expect(
      serviceEndpointProblems("web-preview", endpointViews(slices, colors), "green", 2),
    ).toEqual(problems);
  });
});

describe("imagePullFailure", () => {
  const IMAGE = `registry.test/apps/web:1.1.0@sha256:${"2".repeat(64)}`;
  const pod = (waiting?: { reason?: string; message?: string }, init = false): PodLike => {
    const status = { name: "app", image: IMAGE, state: waiting ? { waiting } : {} };
    return {
      metadata: { name: "web-green-7d9-x2", uid: "u" },
      spec: { containers: [{ name: "app", image: IMAGE }] },
      status: init ? { initContainerStatuses: [status] } : { containerStatuses: [status] },
    };
  };
  const NOT_FOUND = `rpc error: code = NotFound desc = failed to pull and unpack image "${IMAGE}": not found`;
  it.each([
    [
      "ErrImagePull",
      { reason: "ErrImagePull", message: NOT_FOUND },
      false,
      `pod web-green-7d9-x2 cannot pull ${IMAGE}: ErrImagePull: ${NOT_FOUND}`,
    ],
    [
      "ImagePullBackOff",
      { reason: "ImagePullBackOff", message: `Back-off pulling image "${IMAGE}"` },
      false,
      `pod web-green-7d9-x2 cannot pull ${IMAGE}: ImagePullBackOff: Back-off pulling image "${IMAGE}"`,
    ],
    [
      "an init container's, first line only",
      {
        reason: "ErrImagePull",
        message: "dial tcp 10.0.0.5:5000: connect: connection refused\nmore",
      },
      true,
      `pod web-green-7d9-x2 cannot pull ${IMAGE}: ErrImagePull: dial tcp 10.0.0.5:5000: connect: connection refused`,
    ],
    [
      "InvalidImageName without a message",
      { reason: "InvalidImageName" },
      false,
      `pod web-green-7d9-x2 cannot pull ${IMAGE}: InvalidImageName`,
    ],
    [
      "CrashLoopBackOff (the image is there)",
      { reason: "CrashLoopBackOff", message: "back-off 10s" },
      false,
      undefined,
    ],
    ["ContainerCreating", { reason: "ContainerCreating" }, false, undefined],
    ["running", undefined, false, undefined],
  ])("%s", (_name, waiting, init, want) => {
    expect(imagePullFailure(pod(waiting, init))).toBe(want);
  });

  it("counts only the given digest's containers when asked", () => {
    const failing = pod({ reason: "ErrImagePull", message: NOT_FOUND });
    expect(imagePullFailure(failing, `sha256:${"2".repeat(64)}`)).toMatch(
      /^pod web-green-7d9-x2 cannot pull/,
    );
    expect(imagePullFailure(failing, `sha256:${"3".repeat(64)}`)).toBeUndefined();
  });

  it("is undefined for a pod without statuses yet", () => {
    expect(imagePullFailure({ metadata: { name: "p", uid: "u" } })).toBeUndefined();
  });
});
