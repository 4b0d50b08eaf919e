// Which run a job and a rank belong to: Slurm and Kubernetes cgroup layouts as
// those systems make them (cgroup v2), and the environment's precedence.
#include "jobs/run_identity.h"

#include <gtest/gtest.h>

namespace fts::jobs {
namespace {

TEST(RunIdentityTest, ASlurmStepCgroupNamesTheRunAndTheStep) {
  auto c = run_of_cgroup("/system.slice/slurmstepd.scope/job_42/step_0/user/task_0");
  EXPECT_EQ(c.run, "slurm:42");
  EXPECT_EQ(c.labels.at("slurm_job_id"), "42");
  EXPECT_EQ(c.labels.at("slurm_step"), "0");
  // multi-slurmd nodes prefix the scope with the node name; batch and extern steps
  auto b = run_of_cgroup("/system.slice/node7_slurmstepd.scope/job_1234/step_batch");
  EXPECT_EQ(b.run, "slurm:1234");
  EXPECT_EQ(b.labels.at("slurm_step"), "batch");
  EXPECT_EQ(run_of_cgroup("/system.slice/slurmstepd.scope/job_1234").labels.count("slurm_step"), 0u);
}

TEST(RunIdentityTest, AKubernetesPodIsLabelledButNamesNoRunOfItsOwn) {
  const std::string id(64, 'a');
  auto c = run_of_cgroup("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice/"
                         "cri-containerd-" + id + ".scope");
  EXPECT_EQ(c.run, "");
  EXPECT_EQ(c.labels.at("k8s_pod_uid"), "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(c.labels.at("k8s_container_id"), id);
  auto fs = run_of_cgroup("/kubepods/besteffort/pod0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/" + id);
  EXPECT_EQ(fs.labels.at("k8s_pod_uid"), "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(fs.labels.at("k8s_container_id"), id);
  EXPECT_TRUE(run_of_cgroup("/system.slice/finetune-1.scope").labels.empty());
}

TEST(RunIdentityTest, TheEnvironmentNamesSlurmBeforeTorchelasticAndNeverNone) {
  EXPECT_EQ(run_of_env({{"SLURM_JOB_ID", "42"}, {"TORCHELASTIC_RUN_ID", "abc"}}), "slurm:42");
  EXPECT_EQ(run_of_env({{"TORCHELASTIC_RUN_ID", "abc"}}), "torchelastic:abc");
  EXPECT_EQ(run_of_env({{"TORCHELASTIC_RUN_ID", "none"}}), "");  // torchrun's static rendezvous default
  EXPECT_EQ(run_of_env({{"SLURM_JOB_ID", "4x"}}), "");            // not a Slurm job id
  EXPECT_EQ(run_of_env({}), "");
  auto l = env_labels({{"SLURM_CLUSTER_NAME", "gpu-a"}, {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29500"}});
  EXPECT_EQ(l.at("slurm_cluster"), "gpu-a");
  EXPECT_EQ(l.at("master_addr"), "10.0.0.1");
  EXPECT_EQ(l.at("master_port"), "29500");
}

TEST(RunIdentityTest, TorchrunsRendezvousIdIsItsWorkersRun) {
  EXPECT_EQ(run_of_args({"/usr/bin/python3", "/usr/bin/torchrun", "--rdzv_id", "ft-1", "train.py"}), "torchelastic:ft-1");
  EXPECT_EQ(run_of_args({"torchrun", "--rdzv-id=ft-2", "train.py"}), "torchelastic:ft-2");
  EXPECT_EQ(run_of_args({"torchrun", "--rdzv_id", "none", "train.py"}), "");
  EXPECT_EQ(run_of_args({"torchrun", "train.py"}), "");
}

TEST(RunIdentityTest, RankIsRankElseSlurmProcid) {
  auto r = rank_of_env({{"RANK", "3"}, {"SLURM_PROCID", "0"}, {"LOCAL_RANK", "1"}, {"WORLD_SIZE", "8"}});
  EXPECT_EQ(r.rank, 3u);
  EXPECT_EQ(r.local_rank, 1u);
  EXPECT_EQ(r.world_size, 8u);
  EXPECT_EQ(rank_of_env({{"SLURM_PROCID", "5"}}).rank, 5u);
  EXPECT_FALSE(rank_of_env({{"RANK", "-1"}}).rank);
  EXPECT_FALSE(rank_of_env({{"RANK", ""}}).rank);
}

}  // namespace
}  // namespace fts::jobs
