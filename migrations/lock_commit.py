"""Record stages in dvc.lock in one pass: what `dvc commit -f STAGE...` does, with the pipeline collected once and
dvc.lock written once.

Used when a stage's outputs were made by the stage's own command outside `dvc repro` (a worktree of the same
commit, a cluster), so that DVC knows them without recomputing hours of forests. The CLI collects the pipeline
and rewrites the 30,000-line dvc.lock once per stage (about 35-45 s each on 2 cores); this makes the same calls
as DVC's own commit (stage.save, stage.commit, then the lock file's dump_stages), and its entries were checked
equal to the CLI's for the same stages. Only for outputs made with the committed code and params: it records
whatever is on disk.

    python migrations/lock_commit.py STAGE [STAGE ...]      # e.g. smoothness@as_reported-plain6_seed1
"""

from __future__ import annotations

import sys


def main(names: list[str]) -> int:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    if not names:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    wanted = set(names)
    with Repo(".") as repo, repo.lock:
        stages = [st for st in repo.index.stages if getattr(st, "name", None) in wanted]
        unknown = sorted(wanted - {st.name for st in stages})
        if unknown:
            print(f"error: not stages of dvc.yaml: {', '.join(unknown)}; `dvc stage list` names them", file=sys.stderr)
            return 1
        for stage in stages:  # a missing output stops here, before dvc.lock is written
            try:
                stage.save()
                stage.commit()
            except DvcException as err:
                print(f"error: {stage.name}: {' '.join(str(err).split())}; nothing was recorded", file=sys.stderr)
                return 1
        by_file: dict = {}
        for stage in stages:
            by_file.setdefault(stage.dvcfile, []).append(stage)
        for dvcfile, group in by_file.items():
            dvcfile.dump_stages(group, update_pipeline=False)
    print(f"recorded {len(stages)} stages in dvc.lock")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
