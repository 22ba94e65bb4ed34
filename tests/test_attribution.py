from retrieval.attribution import asked_speaker, attribute, attribute_all, same_speaker


def test_direct_quote_with_speech_verb():
    a = attribute('"We listened to assurances," Wallace said.')
    assert (a.speaker, a.direct) == ("Wallace", True)


def test_inverted_and_appositive_and_according_to():
    assert attribute('"We will win," said President Joe Biden.').speaker == "President Joe Biden"
    assert attribute("Smith, the chief executive, said profits rose.").speaker == "Smith"
    lee = 'An expert at the Foreign Policy Institute, Rob Lee, told The Moscow Times that "x y."'
    assert attribute(lee).speaker == "Rob Lee"  # the listener is not the speaker
    assert attribute("Prices rose, according to the Office for National Statistics.").speaker


def test_a_name_inside_a_quote_is_not_the_speaker():
    assert attribute('"Wallace said nothing new," Lee told reporters.').speaker == "Lee"


def test_pronouns_and_running_quotes_inherit_within_a_paragraph():
    sents = ['"First," Wallace said.', "He said more.", '"And a second quote."', '"New para."']
    attrs = attribute_all(sents, [True, False, False, True])
    assert [a.speaker for a in attrs] == ["Wallace", "Wallace", "Wallace", ""]
    assert attrs[1].inherited and attrs[2].direct


def test_asked_speaker_and_matching():
    assert asked_speaker("What did Wallace say after meeting Shoigu?") == "Wallace"
    assert asked_speaker("According to Rob Lee, what can Russia do?") == "Rob Lee"
    assert asked_speaker("How many troops are near the border?") == ""
    assert same_speaker("Wallace", "Defence Secretary Ben Wallace")
    assert same_speaker("Ben Wallace", "Wallace")
    assert not same_speaker("Ben Wallace", "Tom Wallace")
    assert not same_speaker("Lee", "Lee Smith")
