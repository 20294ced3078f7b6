import { defineConfig } from "vitest/config";

// Three test suites, from fast to real: `make test-unit`, `make test-policy`, `make test-integration`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
          // Stack files run the whole program under mocks in beforeAll: slow on a busy 2-core box.
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "policy",
          include: ["test/policy/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          // Suites share one embedded cluster and Pulumi backend: run files one at a time.
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      {
        // `make bench`: measurements reported as ratios to a baseline run alongside; never timed tests.
        test: {
          name: "bench",
          include: ["bench/**/*.measure.ts"],
          environment: "node",
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 1_800_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
