# shellcheck shell=bash
# scripts/build.sh - how run.sh (and bench/ingest.sh, which starts the service as run.sh does) build a host.
#
# Source this file (bash only); it only defines functions and never changes shell options.
#
#   dp_publish PROJECT ARTIFACTS
#       Publishes PROJECT (a .csproj) in Release, framework-dependent, ReadyToRun for this machine's runtime identifier,
#       into ARTIFACTS (dotnet's --artifacts-path layout, so it never touches src/*/bin|obj of a running test.sh) and
#       sets DP_PUBLISHED_DLL to the published entry assembly.
#       Why ReadyToRun: the first import after start ran on code the JIT was still compiling (tier 0, then tier 1
#       in the background): measured with bench/ingest.sh, the cold Alphacast import took twice the service CPU of a
#       warm one. ReadyToRun ships the app's and its packages' code precompiled; hot methods still tier up to fully
#       optimized code once warm. DP_READY_TO_RUN=false publishes without it (faster build, cold first import).
#       The crossgen compiler comes from NuGet (Microsoft.NETCore.App.Crossgen2.<rid>, the SDK's runtime version).

dp_runtime_id() {
  case $(uname -m) in
    x86_64 | amd64) echo linux-x64 ;;
    aarch64 | arm64) echo linux-arm64 ;;
    *) echo "build.sh: no ReadyToRun runtime identifier for $(uname -m)" >&2; return 1 ;;
  esac
}

dp_publish() {
  local project=$1 artifacts=$2 rid name
  rid=$(dp_runtime_id) || return 1
  name=$(basename "$project" .csproj)
  # Said on stderr: a ReadyToRun publish takes a minute or more on two cores, and a silent minute looks like a hang.
  echo "build.sh: publishing $name (ReadyToRun=${DP_READY_TO_RUN:-true}) into $artifacts" >&2
  dotnet publish "$project" -c Release -r "$rid" --self-contained false -p:PublishReadyToRun="${DP_READY_TO_RUN:-true}" \
    --artifacts-path "$artifacts" -v quiet -nologo || return 1
  # The assembly name is DatasetPlatform.<project> (Directory.Build.props).
  DP_PUBLISHED_DLL=$artifacts/publish/$name/release_$rid/DatasetPlatform.$name.dll
  [[ -s $DP_PUBLISHED_DLL ]] || { echo "build.sh: the publish left no $DP_PUBLISHED_DLL" >&2; return 1; }
}
