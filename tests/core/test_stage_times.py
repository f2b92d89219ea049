"""Time-left estimates for stages that report no steps, learned from earlier jobs on this computer."""

from desktop_app.core.progress import StageTimes


def test_a_stage_learns_its_time_per_item_and_estimates_the_next_library() -> None:
    times = StageTimes({})
    assert times.remaining("layout", 1000, 0.0) is None  # never timed here: no guess
    times.learn("layout", 10.0, 1000)  # 10 ms per item
    assert times.remaining("layout", 2000, 0.0) == 20.0
    assert times.remaining("layout", 2000, 5.0) == 15.0
    assert times.remaining("layout", 2000, 60.0) == 1.0  # overran: "a moment", never negative
    times.learn("layout", 30.0, 1000)  # one slower run moves the estimate halfway, not all the way
    assert times.remaining("layout", 1000, 0.0) == 20.0


def test_short_stages_teach_nothing_and_per_run_stages_ignore_the_size() -> None:
    times = StageTimes({})
    times.learn("layout", 0.01, 1000)  # a map read from the cache
    assert "layout" not in times.rates
    times.learn("load-model", 4.0, 100_000)
    assert times.remaining("load-model", 10, 1.0) == 3.0


def test_stored_times_survive_a_damaged_setting() -> None:
    assert StageTimes.from_json({"layout": "x", "cluster": -1, "name": 0.002}).rates == {"name": 0.002}
    assert StageTimes.from_json("not a dict").rates == {}
    times = StageTimes({"embed": 0.25})
    assert StageTimes.from_json(times.to_json()).rates == {"embed": 0.25}
