"""Chapter 16's exercise checks, on a right answer and on wrong ones."""

from mlops_course.exercises import ch16

QUOTA = {"cards_rate": 20.0, "cards_burst": 10}


def test_bigger_burst_accepts_twenty_a_one_second_retry_and_a_one_second_refill():
    fb = ch16.bigger_burst(20, "1", 1.0, **QUOTA)
    assert fb.ok is True, fb.message


def test_bigger_burst_refuses_the_old_burst_and_all_thirty():
    fb = ch16.bigger_burst(10, "1", 1.0, **QUOTA)
    assert fb.ok is False
    assert fb.message.startswith("10 is the old burst")
    fb = ch16.bigger_burst(30, "1", 1.0, **QUOTA)
    assert "refuses the rest" in fb.message


def test_bigger_burst_refuses_an_unrounded_retry_and_one_token_s_refill():
    fb = ch16.bigger_burst(20, "0.05", 1.0, **QUOTA)
    assert "the header rounds up to whole seconds, '1'" in fb.message
    fb = ch16.bigger_burst(20, "1", 0.05, **QUOTA)
    assert fb.message.startswith("0.05 s refills one token")
    slow = {"cards_rate": 2.0, "cards_burst": 10}
    assert ch16.bigger_burst(20, "1", 10.0, **slow).ok is True
    assert "take 10 s to come back" in ch16.bigger_burst(20, "1", 4.0, **slow).message


def test_working_set_accepts_thrashing_and_then_four_loads():
    fb = ch16.working_set({3: 20, 4: 4})
    assert fb.ok is True, fb.message


def test_working_set_refuses_a_cache_that_would_keep_three_of_four():
    fb = ch16.working_set({3: 4, 4: 4})
    assert fb.ok is False
    assert "always throws out the model needed next" in fb.message
    fb = ch16.working_set({3: 20, 4: 20})
    assert "the whole working set fits" in fb.message
    assert "give the loads for 3 and for 4 models" in ch16.working_set({3: 20}).message
