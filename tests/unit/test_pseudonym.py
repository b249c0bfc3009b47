import pytest

from services.social.pseudonym import household_ref, person_ref

pytestmark = pytest.mark.unit

KK = "6403012345678901"
NIK = "6403014101900001"


def test_household_ref_is_stable_for_the_same_key_and_kk() -> None:
    assert household_ref(b"k1", KK) == household_ref(b"k1", KK)


def test_household_ref_changes_with_the_key() -> None:
    assert household_ref(b"k1", KK) != household_ref(b"k2", KK)


def test_refs_do_not_contain_the_identity_number() -> None:
    assert KK not in household_ref(b"k1", KK)
    assert NIK not in person_ref(b"k1", NIK)


def test_household_and_person_refs_of_the_same_digits_differ() -> None:
    assert household_ref(b"k1", KK)[2:] != person_ref(b"k1", KK)[2:]


def test_refs_have_the_published_shape() -> None:
    ref = household_ref(b"k1", KK)
    assert ref.startswith("h-") and len(ref) == 34
    assert person_ref(b"k1", NIK).startswith("p-")
