"""The turn planner, without models: each test runs in milliseconds on the shipped content."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.lessons.activities import answering_fact
from appliance.lessons.content import has_content, load_content
from appliance.lessons.language import LanguageDataError, box_lines
from appliance.lessons.planner import Move, TurnPlanner, items_named, story_hero, student_twist
from appliance.lessons.understand import Act, understand

CONTENT = load_content("en")


def planner(activity: str, level: str = "A2", seed: int = 7, **roles: str) -> TurnPlanner:
    return TurnPlanner(CONTENT, activity, level, seed=seed, **roles)


def talk(p: TurnPlanner, *lines: str) -> list[str]:
    """Say each line; return the box's replies."""
    replies = []
    for line in lines:
        plan = p.plan(line)
        p.commit(plan, plan.follow_up if plan.slow else plan.text)
        replies.append(plan.text)
    return replies


@pytest.mark.parametrize(
    ("line", "act"),
    [
        ("Hello! My name is Lena.", Act.INTRODUCTION),
        ("I have a dog.", Act.STATEMENT),
        ("Do you have a pet?", Act.QUESTION),
        ("Can I have a cheese sandwich, please?", Act.REQUEST),
        ("Yes.", Act.YES),
        ("No, I don't.", Act.NO),
        ("Sorry, can you say that again?", Act.REPEAT),
        ("Can you speak more slowly, please?", Act.REPEAT),
        ("What?", Act.REPEAT),
        ("I don't know.", Act.DONT_KNOW),
        ("I'm not sure.", Act.DONT_KNOW),
        ("Can you do my homework?", Act.OFF_TASK),
        ("Tell me a joke.", Act.OFF_TASK),
        ("What is 12 times 12?", Act.OFF_TASK),
        ("OK. I have to go now. Bye!", Act.GOODBYE),
        ("I give up. What is it?", Act.GIVE_UP),
        # Thinking aloud is not a question; an answer that starts unsure is an answer.
        ("Weakness? I don't know. Maybe I am sometimes late.", Act.STATEMENT),
        ("I don't know. Maybe Canada, because my cousin lives there.", Act.STATEMENT),
        ("Sorry, I don't understand. One more time, please?", Act.REPEAT),
        ("Sorry, could you repeat the time? It's very noisy in here.", Act.REPEAT),
        (
            "Hang on, could you go over that last bit again? I lost track of who said what.",
            Act.REPEAT,
        ),
        # Not a request to repeat: a story line and a child's news.
        ("I don't understand why he left.", Act.STATEMENT),
        ("I didn't get a present last year.", Act.STATEMENT),
        ("I find it hard to follow native speakers when they talk fast.", Act.STATEMENT),
        ("Sorry, you're talking a bit too fast for me.", Act.REPEAT),
    ],
)
def test_the_dialogue_act_is_read_from_keywords_and_patterns(line, act):
    assert understand(line, CONTENT).act == act


def test_name_age_origin_and_topic_are_read():
    heard = understand("Hi, I'm Kenji. I am fifteen and I'm from Japan. I have a dog.", CONTENT)
    assert (heard.name, heard.age, heard.origin, heard.topic) == (
        "Kenji",
        "fifteen",
        "Japan",
        "pets",
    )
    assert understand("I'm English.", CONTENT).name is None  # a common word is not a name


def test_a_question_to_the_box_is_answered_first_and_always_the_same():
    first, again = planner("conversation"), planner("conversation", seed=99)
    (reply,) = talk(first, "Do you have a pet?")
    assert reply.startswith("I have a cat! Her name is Pepper.")
    assert reply.endswith("?"), "then the box asks its own question"
    (other,) = talk(again, "Have you got any pets?")
    assert other.startswith("I have a cat! Her name is Pepper."), "the same true answer"


def test_the_box_never_asks_the_same_question_twice_and_moves_to_new_topics():
    p = planner("conversation", level="B1")
    lines = ["I like football.", "Yes.", "I don't know.", "Maybe.", "I have a sister."] * 6
    replies = talk(p, *lines)
    questions = [reply.rsplit(". ", 1)[-1] for reply in replies if reply.endswith("?")]
    asked = [q for q in questions if q not in ("What about you?", "And you?")]
    assert len(asked) == len(set(asked)), "a question came twice"
    assert len({p.state.topic} | set(p.state.topics_done)) >= 4
    assert len(replies) == len(set(replies)), "a reply came twice"


def test_a_repeat_request_replays_the_last_reply_slowly():
    p = planner("conversation")
    (hello, again, twice) = talk(
        p, "Hello, my name is Ana.", "Sorry, can you say that again?", "What?"
    )
    plan = p.plan("More slowly, please.")
    assert plan.slow and plan.move == Move.REPEAT and plan.follow_up == hello
    assert again.endswith(hello) and twice.endswith(hello), "a second request replays the reply"


def test_i_dont_know_gets_encouragement_and_an_easier_question():
    p = planner("conversation", level="A1")
    talk(p, "I like animals.")
    plan = p.plan("I don't know.")
    assert plan.act == Act.DONT_KNOW and plan.move == Move.ENCOURAGE
    assert plan.reaction in CONTENT.classroom.lines["encourage"]
    assert plan.follow_up.endswith("?")


def test_giving_up_reveals_the_object_and_starts_a_new_game():
    p = planner("guess", level="B1")
    secret = p.state.secret
    assert secret is not None
    (answer, gave_up, next_game) = talk(p, "Is it alive?", "I give up. What is it?", "Is it big?")
    assert answer.startswith(("Yes!", "No!"))
    assert secret.name in gave_up and "new" in gave_up
    assert p.state.secret is not None and p.state.secret != secret
    assert next_game.startswith(("Yes!", "No!", "Hmm"))


def test_the_guessing_game_answers_from_the_facts_and_wins():
    p = planner("guess", level="A1", seed=3)
    secret = p.state.secret
    assert secret is not None
    (animal, win) = talk(p, "Is it an animal?", f"Is it {secret.name}?")
    assert animal.startswith("No!")
    assert "You win" in win and p.state.secret != secret


def test_role_play_follows_the_scene_and_stays_in_character():
    p = planner("roleplay", level="A1", character="Santa Claus", setting="the North Pole")
    replies = talk(p, "Hello Santa! I am Sofia.", "I am seven.", "Where are the reindeer?",
                   "I want a red bike.", "Thank you, bye!")  # fmt: skip
    assert replies[0].startswith("Ho ho ho!") and "Sofia" in replies[0]
    assert "reindeer" in replies[2].lower()
    assert replies[3].startswith("A red bike")
    assert "Sofia" in replies[4] and "Santa" not in replies[4], "never 'Goodbye, Santa!'"
    steps = [r.rsplit("! ", 1)[-1] for r in replies[:4]]
    assert len(set(steps)) == 4, "the scene moves on each turn"


def test_the_character_comes_from_the_teachers_words():
    assert CONTENT.character_for("a shopkeeper in a bakery").id == "bakery"
    assert CONTENT.character_for("a waiter", "a café in Rome").id == "cafe"
    assert CONTENT.character_for("Santa Claus", "the North Pole").id == "santa"
    assert CONTENT.character_for("a lighthouse keeper").id == "generic"
    generic = planner("roleplay", character="a lighthouse keeper")
    (who,) = talk(generic, "Who are you?")
    assert who.startswith("I'm a lighthouse keeper.")


def test_items_are_echoed_as_the_student_said_them():
    cafe = CONTENT.character("cafe")
    said = "I'd like a cheese sandwich and an orange juice, please."
    assert items_named(said, cafe) == ["a cheese sandwich", "an orange juice"]
    santa = CONTENT.character("santa")
    assert items_named("I want a doll. A big doll.", santa) == ["a big doll"]


def test_the_interview_asks_each_question_once_and_answers_the_applicant():
    p = planner("interview", level="B2")
    replies = talk(p, "Good morning, I'm Chiara.", "I worked in a clinic for two years.",
                   "I stay calm.", "How many hours is the job?", "What is the salary?")  # fmt: skip
    assert "Chiara" in replies[0]
    assert replies[3].startswith("It's twenty hours a week")
    assert replies[4].startswith("The pay is")
    assert p.state.step >= 4, "the interview moves on while it answers"


def test_the_story_continues_with_something_new_and_ends_when_asked():
    p = planner("story", level="B1")
    replies = talk(p, "Once upon a time there was a little fox.", "The fox was hungry.",
                   "I don't know.", "Can you finish the story? I have to go.")  # fmt: skip
    assert p.state.hero == "the little fox"
    assert replies[0] != replies[1] and replies[1].endswith("?")
    assert "The end" in replies[3]
    assert story_hero("Let's tell a story about a boy who finds a key.") == "the boy"


def test_improv_sets_a_scene_from_the_students_words_and_calls_action():
    p = planner("improv", level="B1")
    scene, in_scene, again = talk(
        p,
        "Can we do a scene at the doctor's? I'm the patient and my name is Yuki.",
        "I have a terrible headache.",
        "Again, but this time I'm very angry.",
    )
    assert "the doctor's" in scene and "Yuki is the patient" in scene and scene.endswith("Action!")
    assert "headache" in in_scene.lower()
    assert re.search(r"you(?: are|'re) very angry", again) and again.endswith("Action!")
    assert (
        student_twist("Now at a station, and I have missed my train.")
        == "you have missed your train"
    )


def test_off_task_lines_get_an_honest_answer_and_the_lesson_goes_on():
    p = planner("conversation")
    (total, homework) = talk(p, "What is 12 times 12?", "Can you do my homework?")
    assert total.startswith("12 times 12 is 144!") and total.endswith("?")
    assert "can't do your homework" in homework


def test_the_same_seed_and_lines_give_the_same_replies():
    lines = ("Hi, I'm Tom.", "I like music.", "Yes.", "I went to the beach.")
    assert talk(planner("conversation", seed=5), *lines) == talk(
        planner("conversation", seed=5), *lines
    )


def test_a_plan_changes_nothing_until_it_is_committed():
    p = planner("conversation")
    before = p.state
    p.plan("I like cats.")
    assert p.state == before, "a cancelled turn leaves the conversation as it was"


def test_the_log_fields_hold_the_decision_not_the_words():
    plan = planner("conversation").plan("My secret is that I love pizza.")
    fields = plan.log_fields()
    assert set(fields) == {"act", "move", "topic", "fallback"}
    assert not any("pizza" in value for value in fields.values())


def test_a_broken_data_file_is_named_with_its_line(tmp_path, monkeypatch):
    language = tmp_path / "xx"
    language.mkdir()
    (language / "lines.toml").write_text(
        'no_reply = "a"\nfallback = "b"\nlast_resort = "c"\ncare = "d"\n'
        'not_caught = "e"\nredirects = ["f"]\nfollow_ups = 3\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PARLO_LANGUAGES", str(tmp_path))
    box_lines.cache_clear()
    try:
        with pytest.raises(LanguageDataError, match=r"xx/lines.toml:7: lines.follow_ups"):
            box_lines("xx")
    finally:
        box_lines.cache_clear()


def test_a_new_language_is_data_only(tmp_path, monkeypatch):
    """A folder of lines is a new language's box lines: no code names it."""
    from appliance.core.config import FilterSettings
    from appliance.lessons.safety import ClassroomFilter

    language = tmp_path / "xx"
    language.mkdir()
    (language / "lines.toml").write_text(
        'no_reply = "Zut."\nfallback = "Autre chose."\nlast_resort = "Bon."\n'
        'care = "Parle à un adulte."\nnot_caught = "Encore ?"\n'
        'redirects = ["Des mots gentils."]\nfollow_ups = ["Et toi ?"]\n'
        'page_at = "Ma page : {places}, port {port}."\ndot = "point"\nor_at = "ou"\n'
        'again = "Encore :"\nno_network = "Pas de réseau."\npage_off = "Page éteinte."\n'
        'shutdown_ask = "Encore une fois ?"\nshutting_down = "Au revoir."\n'
        'restarting = "À tout de suite."\nallowed = "Permis : {what}"\n'
        'first_pin = "Le code : {digits}."\n',
        encoding="utf-8",
    )
    (language / "blocked.txt").write_text("zutalors\n", encoding="utf-8")
    monkeypatch.setenv("PARLO_LANGUAGES", str(tmp_path))
    box_lines.cache_clear()
    from appliance.lessons import language as languages

    languages.word_list.cache_clear()
    try:
        word_filter = ClassroomFilter(FilterSettings(), language="xx")
        assert word_filter.fallback == "Autre chose."
        assert word_filter.redirect_for("zutalors!") == "Des mots gentils."
        assert not has_content("xx"), "no planner content: the model writes its replies"
        from appliance.system.network import spoken_address

        line = "Ma page : 10 point 0 point 0 point 7, port 8080."
        assert spoken_address(["10.0.0.7"], 8080, box_lines("xx")) == f"{line} Encore : {line}"
    finally:
        box_lines.cache_clear()
        languages.word_list.cache_clear()


def test_a_line_with_slots_must_have_them_all(tmp_path, monkeypatch):
    english = Path(__file__).resolve().parents[1] / "appliance/lessons/data/en/lines.toml"
    broken = english.read_text(encoding="utf-8").replace("port {port}.", "port.")
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "lines.toml").write_text(broken, encoding="utf-8")
    monkeypatch.setenv("PARLO_LANGUAGES", str(tmp_path))
    box_lines.cache_clear()
    try:
        with pytest.raises(LanguageDataError, match=r"xx/lines.toml:\d+: lines.page_at: .*port"):
            box_lines("xx")
    finally:
        box_lines.cache_clear()


def test_how_much_is_planned_is_a_property_of_the_model_set():
    from appliance.models.manifest import FileEntry, ManifestError, ModelEntry

    gguf = (FileEntry("model.gguf", 1, "0" * 64),)
    assert ModelEntry("llm", "tiny", ("en",), gguf).planning == ""  # "plan" by default
    assert ModelEntry("llm", "strong", ("en",), gguf, planning="free").planning == "free"
    with pytest.raises(ManifestError, match="planning of the llm model"):
        ModelEntry("llm", "odd", ("en",), gguf, planning="some")


def test_a_yes_or_no_question_with_no_fact_gets_a_yes_in_role():
    guide = planner("roleplay", level="B1", character="a tour guide", setting="a museum")
    (reply,) = talk(guide, "Excuse me, are you the guide for the English tour?")
    assert reply.startswith("Yes, I am!")
    parlo = planner("conversation")
    (likes,) = talk(parlo, "Do you like football?")
    assert likes.startswith("Yes, I like football!")


def test_a_reaction_takes_the_students_own_words():
    (reply,) = talk(planner("conversation", level="B1"), "I want to learn to drive.")
    assert "learn to drive" in reply.split("?")[0] or "learn to drive" in reply.split("!")[0]


def test_the_guessing_game_answers_from_kinds_of_facts():
    apple = next(s for s in CONTENT.guess.simple_objects if s.name == "an apple")
    p = TurnPlanner(CONTENT, "guess", "A2", seed=1, secret=apple)
    legs, paper = talk(p, "Does it have legs?", "Is it made of paper?")
    assert legs.startswith("No! It does not have legs.")
    assert paper.startswith("No!")


def test_improv_sets_a_scene_at_any_place_the_student_names():
    p = planner("improv", level="A1")
    (scene,) = talk(p, "A scene in a library, please.")
    assert "in a library" in scene and "the librarian" in scene and scene.endswith("Action!")


def test_a_story_can_stop_for_next_time_and_a_greeting_keeps_the_time_of_day():
    story = planner("story", level="B1")
    talk(story, "Once upon a time there was a girl called Mia.")
    assert story.state.hero == "Mia"
    (stop,) = talk(story, "Let's stop there. We can finish it next lesson.")
    assert "next time" in stop and "The end" not in stop
    bakery = planner("roleplay", character="a shopkeeper in a bakery")
    (hello,) = talk(bakery, "Good afternoon. I want some bread.")
    assert hello.startswith("Good afternoon")


def test_improv_moves_to_the_place_the_student_names_next():
    p = planner("improv", level="A1")
    first, zoo, look = talk(p, "A scene at a restaurant, please.", "Now the zoo, please!",
                            "Look, an elephant!")  # fmt: skip
    assert "restaurant" in first and "at the zoo" in zoo and "the zookeeper" in zoo
    assert look.startswith(("Wow, an elephant!", "Oh yes, an elephant!"))


def test_a_clothes_shop_is_not_a_supermarket():
    assert CONTENT.character_for("a shop assistant", "a clothes shop").id == "generic"
    assert CONTENT.character_for("a supermarket cashier", "a big shop").id == "shop"
    assert CONTENT.character_for("a vet", "a small animal clinic").id == "generic"


def test_a_students_own_story_gets_asked_about_and_easier_words_get_the_simple_question():
    p = planner("conversation", level="B1")
    (reply,) = talk(p, "Yesterday I stopped my car in a roundabout and everyone hooted at me.")
    assert reply.endswith(("Tell me more about it!", "Why was that?", "How did you feel?"))
    interview = planner("interview", level="B2")
    talk(interview, "Good morning, I'm Chiara.")
    (easier,) = talk(interview, "Sorry, can you ask me with easier words?")
    assert easier.endswith("What work have you done before?")


def test_improv_swaps_the_roles_the_student_asks_for():
    p = planner("improv", level="B1")
    talk(p, "A scene at a football stadium.")
    (swap,) = talk(p, "Again, but this time I'm the security guard and you are the fan.")
    assert "you are the security guard" in swap and "I am the fan" in swap


def test_a_comparison_is_answered_only_by_a_fact_about_the_same_thing():
    from appliance.lessons.activities import BUILTIN_ACTIVITIES, answering_fact

    chair = next(s for s in BUILTIN_ACTIVITIES["guess"].simple_secrets if s.word == "chair")
    assert answering_fact(chair, "Is it bigger than a car?") == "It is not bigger than a car."
    assert answering_fact(chair, "Is it bigger than a bed?") is None, "cars say nothing of beds"


# --- the student's own words, reflected ---


@pytest.mark.parametrize(
    ("line", "thing"),
    [
        ("I have a new phone.", "your new phone"),
        ("I bought a red bicycle.", "your red bicycle"),
        ("I got some new shoes.", "your new shoes"),
    ],
)
def test_a_thing_the_student_names_is_said_back_and_asked_about(line, thing):
    p = planner("conversation")
    (reply,) = talk(p, line)
    question = reply.rsplit(". ", 1)[-1] if "?" in reply else reply
    assert thing in reply and reply.endswith((".", "?")), reply
    assert thing in question, "the follow-up is about the same thing, not a new topic"
    assert p.state.last_question is None  # no topic question was asked


@pytest.mark.parametrize(
    ("activity", "line", "mistake"),
    [
        ("roleplay", "Hi, I have a appointment at three o'clock.", r"\ba appointment"),
        ("roleplay", "I want my hair more short, please.", r"more short"),
        ("conversation", "I have two brother.", r"\btwo brother\b(?!s)"),
        ("roleplay", "Hello. I want borrow a book, please.", r"want borrow|borrow a book"),
    ],
)
def test_a_learners_mistake_is_not_said_back(activity, line, mistake):
    import re

    (reply,) = talk(planner(activity, character="a hairdresser"), line)
    assert not re.search(mistake, reply, re.I), reply


def test_a_question_the_student_just_answered_is_not_asked():
    for seed in range(6):
        p = planner("conversation", seed=seed)
        talk(p, "Hi, I'm Diego.")
        (reply,) = talk(p, "My favourite subject is art.")
        assert "favourite subject" not in reply.lower(), reply
        p = planner("roleplay", seed=seed, character="Santa Claus")
        _, good = talk(p, "Hi Santa! My name is Leo.", "I am six. I am a good boy.")
        assert "been good" not in good, good


def test_the_box_answers_about_itself_with_its_own_words():
    p = planner("roleplay", character="a florist", setting="a flower shop")
    (reply,) = talk(p, "Do you like your shop?")
    assert "my shop" in reply and "your shop" not in reply, reply


def test_a_character_with_no_table_uses_the_teachers_words():
    for seed in range(4):
        p = planner(
            "roleplay", seed=seed, character="a florist", setting="a small flower shop in town"
        )
        (hello,) = talk(p, "Hello!")
        assert "{" not in hello
        if "Welcome to" in hello:
            assert "Welcome to the small flower shop" in hello
        told = planner(
            "roleplay", seed=seed, character="an officer", setting="a lost property office"
        )
        (reply,) = talk(told, "Good afternoon. I think I left my backpack on the train.")
        assert "How can I help" not in reply, "the need was told already"
        assert "your backpack" in reply and reply.endswith("?"), reply


def test_a_scene_step_before_the_order_is_not_asked_after_it():
    p = planner("roleplay", character="a waiter in a café")
    replies = talk(p, "Hello.", "I want a pizza, please.", "No.")
    assert not any("ready to order" in r for r in replies[1:]), replies


def test_an_improv_partner_plays_along_and_says_who_it_is():
    stock = {r for kind in ("in_scene", "negative", "neutral", "positive")
             for r in CONTENT.classroom.reactions[kind]}  # fmt: skip
    for seed in range(4):
        p = planner("improv", seed=seed)
        _scene, line, who = talk(
            p,
            "Can we do a scene at the swimming pool?",
            "I am the swimmer. Oh no, I forget my towel!",
            "Who are you in this scene?",
        )
        assert line not in stock and "?" in line, line
        assert p.state.place is not None and p.state.place.box_role in who
        assert "Here is the scene" not in who, "the scene goes on"


def test_a_story_keeps_the_students_new_thing():
    p = planner("story", level="A1")
    _, fish = talk(p, "Once there was a little cat.", "The cat sees a big fish.")
    assert fish.count("big fish") >= 2, "the reaction and the next beat are about it"
    (end,) = talk(p, "That's the end. I like our story!")
    assert p.state.ended and "The end" in end


def test_a_beat_the_student_told_already_is_not_told_again():
    p = planner("story", level="B1")
    replies = talk(p, "A story about a girl called Nadia.", "One night she hears a strange noise.")
    assert "strange noise" not in replies[1], replies


@pytest.mark.parametrize(
    ("question", "answers", "yes_for"),
    [
        ("Is it something you wear?", {"No"}, {"a hat"}),
        ("Is it a kind of tool for writing?", {"No"}, {"a pencil"}),
        ("Can you hold it in one hand?", {"Yes", "No"}, set()),
        ("Do people use it every day?", {"Yes", "No"}, set()),
        ("Is it bigger than a book?", {"Yes", "No"}, set()),
    ],
)
def test_the_guessing_game_answers_fair_questions_for_every_object(question, answers, yes_for):
    for secret in (*CONTENT.guess.objects, *CONTENT.guess.simple_objects):
        p = TurnPlanner(CONTENT, "guess", "B1", seed=1, secret=secret)
        (reply,) = talk(p, question)
        expected = {"Yes"} if secret.name in yes_for else answers
        assert reply.split("!")[0] in expected, (secret.name, reply)


def test_a_hand_sized_object_and_a_chair_get_opposite_answers():
    objects = {s.word: s for s in (*CONTENT.guess.objects, *CONTENT.guess.simple_objects)}
    spoon = TurnPlanner(CONTENT, "guess", "B1", seed=1, secret=objects["spoon"])
    chair = TurnPlanner(CONTENT, "guess", "A1", seed=1, secret=objects["chair"])
    assert talk(spoon, "Can you hold it in one hand?")[0].startswith("Yes")
    assert talk(chair, "Can you hold it in one hand?")[0].startswith("No")


@pytest.mark.parametrize(
    ("line", "act"),
    [
        ("Tomorrow I start at five, so I have to go to bed early.", Act.STATEMENT),
        ("Anyway, I'd better get going, my seminar starts soon. Cheers!", Act.GOODBYE),
        ("Can you finish the story? I have to go to my next class.", Act.GOODBYE),
        ("I think that's a good ending.", Act.GOODBYE),
        ("Sorry, could you speak a bit slower?", Act.REPEAT),
    ],
)
def test_goodbye_only_when_the_student_leaves(line, act):
    assert understand(line, CONTENT).act == act


def test_the_feeling_said_last_wins():
    heard = understand("I've loved that band for years, but honestly I was disappointed.", CONTENT)
    assert heard.sentiment == "negative"
    assert understand("It was hard, but in the end I loved it.", CONTENT).sentiment == "positive"


def test_a_negative_line_gets_no_cheerful_keyword_reaction():
    p = planner("conversation", level="B2")
    (reply,) = talk(p, "Last night I went to a concert, and honestly, I was a bit disappointed.")
    assert "exciting" not in reply and "the concert" in reply, reply


def test_easier_words_are_easier_than_the_last_reply():
    p = planner("conversation", level="B2")
    first, easier = talk(p, "I love music.", "Could you put that more simply?")
    assert easier != first and easier.endswith("?")
    assert len(easier.split()) < len(first.split()) + 3


def test_a_question_of_fact_gets_a_true_answer_in_any_activity():
    for activity in ("conversation", "improv"):
        p = planner(activity, level="B1")
        if activity == "improv":
            talk(p, "A scene at the supermarket, please.")
        (reply,) = talk(p, "Sorry, what's the capital of Australia?")
        assert "Canberra" in reply


def test_a_name_after_a_greeting_is_a_name_even_if_common():
    assert understand("Hi there, I'm Daniel. I work in IT.", CONTENT).name == "Daniel"
    assert understand("Hi Parlo, it's Giulia.", CONTENT).name == "Giulia"
    assert understand("Hi, I'm fine, thanks.", CONTENT).name is None


def test_a_bad_frame_feeling_is_named_with_its_line(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    import appliance.lessons.content as content_module

    source = Path(content_module.__file__).parent / "data" / "en" / "classroom.toml"
    language = tmp_path / "en"
    language.mkdir()
    text = source.read_text(encoding="utf-8").replace(
        'feeling = ["negative"]', 'feeling = ["cross"]', 1
    )
    (language / "classroom.toml").write_text(text, encoding="utf-8")
    line = text.splitlines().index('feeling = ["cross"]') + 1
    shutil.copy(source.parent / "lines.toml", language / "lines.toml")
    monkeypatch.setenv("PARLO_LANGUAGES", str(tmp_path))
    load_content.cache_clear()
    try:
        with pytest.raises(LanguageDataError, match=rf"en/classroom.toml:{line}: frame.feeling"):
            load_content("en")
    finally:
        load_content.cache_clear()


@pytest.mark.parametrize(
    ("line", "act"),
    [
        ("Sorry, I didn't catch that. What flavours do you have?", Act.QUESTION),
        ("Sorry, I didn't understand. Can you ask it in a different way?", Act.REPEAT),
        ("Sorry, I didn't catch that.", Act.REPEAT),
    ],
)
def test_a_new_question_after_sorry_is_a_question(line, act):
    assert understand(line, CONTENT).act == act


def test_a_job_is_not_presumed_from_a_question_about_work():
    for seed in range(6):
        p = planner("conversation", level="B2", seed=seed)
        (reply,) = talk(p, "Do you think people are lonelier now, with so many working from home?")
        assert "your job" not in reply and "at work like for you" not in reply, reply


def test_the_most_specific_thing_asked_for_gets_its_own_question():
    p = planner("roleplay", character="a shopkeeper in a bakery")
    (reply,) = talk(p, "Do you have chocolate cakes?")
    assert "What kind of cake" not in reply, reply


def test_a_request_in_a_scene_is_agreed_to_not_just_noted():
    stock = CONTENT.classroom.reactions["in_scene"]
    p = planner("roleplay", character="a hairdresser")
    _, reply = talk(p, "Hello, my name is Sofia.", "I want my hair more short, please.")
    assert not reply.startswith(stock), reply


def test_a_question_sharing_three_words_with_the_answer_is_not_asked():
    for seed in range(6):
        p = planner("conversation", seed=seed)
        (reply,) = talk(p, "I want to be a doctor.")
        assert "want to be" not in reply.split(".")[-1], reply


def test_a_request_as_a_question_tells_the_need_too():
    p = planner("roleplay", character="a taxi driver", setting="a taxi in New York")
    (reply,) = talk(p, "Hi, can you take me to the airport, please?")
    assert "How can I help" not in reply, reply


def test_the_students_whole_phrase_beats_the_topics_line_but_a_bare_noun_does_not():
    (brother,) = talk(planner("conversation"), "I have a little brother. He is five.")
    assert "your little brother" in brother, brother
    (cinema,) = talk(planner("conversation"), "Yesterday I go to cinema with my friend.")
    assert "cinema with your friend" not in cinema, cinema


def test_a_greeting_says_nothing_of_the_feeling():
    heard = understand("Good evening. Someone stole my phone on the metro.", CONTENT)
    assert heard.sentiment == "negative"
    p = planner("roleplay", character="a police officer", setting="a police station")
    (reply,) = talk(p, "Good evening. Someone stole my phone on the metro.")
    assert "your phone" in reply and "great" not in reply.lower(), reply


def test_a_family_members_job_is_not_asked_why():
    (reply,) = talk(planner("conversation", level="A1"), "My mother is a teacher.")
    assert "Why is that" not in reply, reply


def test_the_end_at_the_end_of_a_line_ends_the_story():
    p = planner("story", level="B1")
    talk(p, "A story about a fisherman called Tom.")
    talk(p, "Let's finish here. The end.")
    assert p.state.ended


def test_two_questions_in_one_turn_get_an_answer_each():
    p = planner("interview", level="B1")
    talk(p, "Good morning, I'm Jonas.")
    (reply,) = talk(p, "When would the job start, and is it only at weekends?")
    assert "next month" in reply and "Saturdays" in reply, reply


def test_a_choice_in_a_story_gets_a_side():
    p = planner("story", level="B2")
    talk(p, "A story about a lighthouse keeper called Ann.")
    (reply,) = talk(p, "What do you think she should do: wait until morning or go out now?")
    assert "wait until morning" in reply, reply


def test_a_family_members_role_and_a_wish_to_be_something_are_asked_about():
    (sister,) = talk(planner("conversation", level="B1"), "My sister is a nurse in London.")
    assert "our sister is a nurse" in sister and "your sister" in sister.split("!")[-1], sister
    (doctor,) = talk(planner("conversation"), "I want to be a doctor.")
    assert "be a doctor" in doctor and "want to be" not in doctor, doctor


def test_bad_news_in_a_scene_gets_help_not_a_pity():
    p = planner("roleplay", character="a taxi driver", setting="a taxi")
    _, reply = talk(
        p, "Hi, can you take me to the airport, please?", "I'm a bit late for my flight."
    )
    assert not reply.startswith(tuple(CONTENT.classroom.reactions["negative"])), reply


@pytest.mark.parametrize(
    "first, hero",
    [
        ("Hi, I am Mei. Let's start. One day an old man find a key in the snow.", "old man"),
        ("Okay, my line: a young fisherman in Iceland woke up and saw no sea.", "fisherman"),
    ],
)
def test_a_story_the_student_begins_keeps_their_hero(first, hero):
    (reply,) = talk(planner("story", "B1"), first)
    assert "dragon" not in reply, "the box's own beginning took over the student's story"
    assert hero in reply


def test_a_participle_is_not_part_of_the_new_thing():
    story = planner("story", "B1")
    talk(story, "A young fisherman in Iceland woke up and saw no sea.")
    (reply,) = talk(story, "Inside the ship there was a letter addressed to him.")
    assert "a letter!" in reply.lower() and "addressed" not in reply


@pytest.mark.parametrize(
    "line, expected",
    [
        ("I don't know this word. What is weekend?", "Saturday and Sunday"),
        ("Sorry, what means platform?", "wait for the train"),
        ("What does 'prescription' mean?", "paper from a doctor"),
    ],
)
def test_a_word_asked_about_is_explained_then_the_question_comes_again(line, expected):
    parlo = planner("conversation")
    (first,) = talk(parlo, "Hi, I'm Ana.")
    asked = re.findall(r"[^.!?]*\?", first)[-1].strip()
    (reply,) = talk(parlo, line)
    assert expected in reply
    assert reply.endswith(asked), "the question she was answering is asked again"


def test_a_word_the_glossary_lacks_is_sent_to_the_teacher_not_ignored():
    (reply,) = talk(planner("story"), "What does 'zeppelin' mean?")
    assert "zeppelin" in reply and "teacher" in reply


def test_what_is_it_in_the_guessing_game_is_still_giving_up():
    game = planner("guess")
    (reply,) = talk(game, "What is it?")
    assert game.state.secret is not None and "Let's play again" in reply


def test_asking_to_rephrase_or_saying_goodbye_on_the_run_are_understood():
    assert understand("Sorry, could you rephrase that? You lost me.", CONTENT).act == Act.REPEAT
    assert understand("Anyway, I have to run. Talk soon.", CONTENT).act == Act.GOODBYE


def test_the_guessing_game_starts_when_asked_and_keeps_the_next_object_secret():
    game = planner("guess", "A1", seed=1)
    ready, compared, _, bye = talk(
        game, "Have you thought of something?", "Is it more big than a book?", "I give up.",
        "Ah, OK! Bye bye.",
    )  # fmt: skip
    assert ready.startswith("Yes!") and "question" in ready
    assert compared.startswith(("Yes!", "No!")), "a learner's 'more big' is a fair question"
    new_object = game.state.secret
    assert new_object is not None and new_object.name.lower() not in bye.lower()


def test_the_lessons_target_words_bring_the_topic_and_question_that_invite_them():
    lines = ("Hi, I'm Ana.", "I'm fine, thanks.", "Yes.")
    plain = talk(planner("conversation", seed=3), *lines)
    targets = ("breakfast", "cook")
    invited = talk(TurnPlanner(CONTENT, "conversation", "A2", seed=3, target_words=targets), *lines)
    said = " ".join(invited).lower()
    assert any(word in said for word in targets), invited
    assert not any(word in " ".join(plain).lower() for word in targets), "a fair test: not anyway"


# --- asides, complaints, topic changes and the questions every activity answers ---


@pytest.mark.parametrize(
    ("line", "aside"),
    [
        ("Teacher, can I open the window? Is very hot here.", "teacher"),
        ("By the way, are we doing this for homework or just in class?", "teacher"),
        ("Wait, my phone... is my boss. She always call on my free day.", "other"),
        ("Hang on, someone is knocking on the door.", "other"),
        ("Oh, sorry, my son is texting me, give me one second.", "other"),
    ],
)
def test_a_line_said_to_someone_else_is_an_aside_and_the_box_waits(line: str, aside: str) -> None:
    heard = understand(line, CONTENT)
    assert (heard.act, heard.aside) == (Act.ASIDE, aside)
    for activity in ("conversation", "roleplay", "story", "improv"):
        p = planner(activity, character="a vet", setting="a clinic")
        talk(p, "Hello, my name is Ana.")
        plan = p.plan(line)
        assert plan.move == Move.WAIT, activity
        kind = "teacher_aside" if aside == "teacher" else "aside"
        assert plan.text in CONTENT.classroom.lines[kind] and "?" not in plan.text, activity


def test_a_question_for_the_box_with_a_friend_asking_is_not_an_aside() -> None:
    heard = understand("Sorry, what's the capital of Australia? My friend is asking me.", CONTENT)
    assert heard.act == Act.QUESTION


def test_after_an_aside_a_word_asked_about_brings_back_the_last_question() -> None:
    p = planner("conversation")
    first = talk(p, "Hi, I'm Ana.")[0]
    talk(p, "Teacher, where is my pen?")
    explained = talk(p, "What does weekend mean?")[0]
    assert first.rsplit(". ", 1)[-1].split("! ")[-1] in explained


def test_i_already_told_you_gets_a_sorry_and_not_the_same_question() -> None:
    p = planner("conversation")
    asked = talk(p, "Hello, I'm Thuy.", "I work in a nail salon.")
    reply = talk(p, "I already tell you, I work in nail salon. Why you ask me again?")[0]
    assert reply.startswith(("Sorry", "Oh, sorry"))
    question = reply.rsplit("! ", 1)[-1]
    assert question not in " ".join(asked)


def test_a_complaint_with_a_question_gets_the_answer_after_the_sorry() -> None:
    p = planner("conversation", level="B1")
    talk(p, "Hi, I'm Tomasz. My daughter is going to Edinburgh.")
    reply = talk(p, "I told you that just now. Have you ever been to Edinburgh?")[0]
    assert reply.startswith(("Sorry", "Oh, sorry"))
    assert "never been to Edinburgh" in reply


def test_can_we_talk_about_something_else_moves_to_a_new_topic() -> None:
    p = planner("conversation")
    talk(p, "Hi, I'm Ana.", "I have a dog called Rex.")
    before = p.state.topic
    plan = p.plan("Can we talk about something else, please?")
    assert plan.act == Act.CHANGE_TOPIC and plan.move == Move.NEW_TOPIC
    assert plan.topic != before and plan.follow_up.endswith("?")


def test_a_question_on_the_students_english_is_answered_even_with_a_goodbye() -> None:
    p = planner("conversation")
    talk(p, "Hi, I'm Thuy.")
    reply = talk(p, "What do you think about my English, is good or bad? OK, bye bye!")[0]
    assert "Your English is good" in reply and "Bye" in reply


def test_a_question_the_student_answers_themselves_is_an_answer() -> None:
    heard = understand("Why I want this job? Because I like animals. That's all.", CONTENT)
    assert heard.act != Act.QUESTION and heard.question == ""
    p = planner("interview")
    talk(p, "Hello, my name is Kwame.")
    assert "Goodbye" not in talk(p, "Why I want this job? Because I like animals. That's all.")[0]


def test_two_questions_in_two_sentences_are_both_read() -> None:
    heard = understand(
        "Do I need to clean the elephants? And how much you pay for one hour?", CONTENT
    )
    assert heard.question == "And how much you pay for one hour?"
    p = planner("interview")
    talk(p, "Hello, my name is Kwame.")
    assert "twelve euros an hour" in talk(p, heard.text)[0]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("What time do you close today?", "six o'clock in the evening"),
        ("And what time are you open on Saturday?", "nine in the morning"),
        ("And how noisy is it at night?", "not too noisy"),
        ("Do I have to pay for get my bag back?", "free"),
        ("What's actually included in the rent?", "included"),
        ("How many I take in one day? Three? Four?", "three times a day"),
        ("Is it negotiable, and what's the earliest date I could move in?", "next Monday"),
    ],
)
def test_a_characters_answer_fits_what_the_question_asks(question: str, answer: str) -> None:
    p = planner("roleplay", character="an estate agent", setting="a flat to rent")
    talk(p, "Hello.")
    assert answer in talk(p, question)[0]


def test_opinion_questions_get_a_side_that_fits_how_they_ask() -> None:
    p = planner("conversation", level="B2")
    talk(p, "Hi, I'm Tomasz.")
    yes_no = talk(p, "Do you think people should be allowed to keep bees in the city?")[0]
    why = talk(p, "Why do you think so many people leave their jobs?")[0]
    assert "I think so" in yes_no or "I think yes" in yes_no
    assert "because" in why.lower() or "maybe" in why.lower()


def test_an_improv_scene_the_student_proposes_keeps_their_place_and_twist() -> None:
    p = planner("improv")
    scene = talk(p, "Can we do a dentist's, but the dentist is scared of teeth?")[0]
    assert "dentist's" in scene and "the dentist is scared of teeth" in scene
    assert scene.endswith("Action!")


def test_a_twist_in_the_scene_is_played_not_replaced_by_a_new_scene() -> None:
    p = planner("improv")
    talk(p, "Can we do a dentist's, but the dentist is scared of teeth?", "My tooth hurts.")
    plan = p.plan("Now a surprise: the patient is a vampire! He has very long teeth.")
    assert plan.move == Move.IN_SCENE and "the patient is a vampire" in plan.text


def test_swapping_roles_keeps_the_place_and_gives_the_roles_asked_for() -> None:
    p = planner("improv")
    talk(p, "Can we do a dentist's, but the dentist is scared of teeth?")
    plan = p.plan("Can we change? I want to be the dentist now, and you are the vampire.")
    assert plan.move == Move.SCENE
    assert "you are the dentist" in plan.text and "I am the vampire" in plan.text


@pytest.mark.parametrize(
    "line",
    ["Oh no! A dog take the umbrella and run!", "A old man with a bicycle come. He help Mia."],
)
def test_a_story_says_back_the_students_thing_without_their_verb(line: str) -> None:
    p = planner("story", level="A1")
    talk(p, "Once a girl, Mia. She have a red umbrella.")
    reply = talk(p, line)[0]
    assert not re.search(r"\b(?:umbrella and run|bicycle come)\b", reply), reply


def test_the_storys_hero_described_is_not_a_new_thing() -> None:
    p = planner("story", level="B1")
    reply = talk(p, "Let's start with a lighthouse keeper called Oskar who lives alone.")[0]
    assert "the lighthouse keeper began" not in reply


def test_back_from_an_aside_in_the_same_turn_the_rest_is_the_turn() -> None:
    p = planner("guess", level="A1")
    talk(p, "Is it big?")
    plan = p.plan("Teacher, what is 'metal'? ... Ah ok. Is it a spoon?")
    assert plan.act == Act.QUESTION and plan.move != Move.WAIT
    still_away = planner("conversation")
    talk(still_away, "Hi, I'm Thuy.")
    assert still_away.plan("Wait, my phone... is my boss. She always calls.").move == Move.WAIT


def test_please_go_on_after_an_aside_brings_back_the_last_question() -> None:
    p = planner("interview", level="B1")
    asked = talk(p, "Good morning, I'm Piotr.")[0]
    plan = p.plan("Excuse me, one moment, my teacher is saying we have five minutes left. Sorry.")
    assert plan.follow_up and plan.follow_up in asked


def test_a_new_place_with_a_change_is_a_new_scene_not_a_swap() -> None:
    p = planner("improv")
    talk(p, "Can we do a dentist's, but the dentist is scared of teeth?")
    plan = p.plan("Let's switch to a castle now. I want to be a king who has lost his crown.")
    assert "castle" in plan.text


def test_a_name_that_is_also_a_word_is_a_name_after_a_greeting() -> None:
    heard = understand("Good evening. I'm Grace, I'm a nurse from the Philippines.", CONTENT)
    assert heard.name == "Grace"


def test_would_you_rather_gets_a_side() -> None:
    p = planner("conversation", level="B2")
    talk(p, "Hi, I'm Kenji.")
    reply = talk(p, "Would you rather live somewhere quiet or somewhere busy?")[0]
    assert "better to live somewhere quiet" in reply


def test_a_sad_line_does_not_get_the_topics_cheerful_reaction() -> None:
    p = planner("conversation")
    talk(p, "Hi, I'm Rodrigo.")
    reply = talk(p, "Last week I hurt my knee when I play football. I am very bored.")[0]
    assert "popular" not in reply and "fun" not in reply.lower()


@pytest.mark.parametrize(
    "line",
    [
        "Okay, that's enough, thanks, that was great.",
        "Here's fine. Keep the change, and thanks for getting me here on time.",
    ],
)
def test_closing_words_end_the_scene(line: str) -> None:
    assert understand(line, CONTENT).act == Act.GOODBYE


def test_a_free_question_in_a_scene_is_not_answered_with_a_place() -> None:
    p = planner("roleplay", character="a shop assistant", setting="a phone shop")
    talk(p, "Hello.")
    assert "on the left" not in talk(p, "Forty pounds? Is there a cheaper way?")[0]


def test_a_question_before_a_goodbye_in_a_scene_is_answered() -> None:
    p = planner("roleplay", character="a receptionist", setting="a gym")
    talk(p, "Hi, I'm thinking of joining the gym.")
    reply = talk(p, "Great, I'll try the free day. Can I come on Saturday? Thanks, see you then.")[
        0
    ]
    assert reply.startswith("Yes") and "Goodbye" in reply


def test_the_last_one_chosen_is_the_one_said_back() -> None:
    p = planner("roleplay", character="an attendant", setting="a bike hire shop")
    talk(p, "Hello. I want a bike, please.")
    assert "The red one" in talk(p, "The blue one. No, sorry, the red one.")[0]


def test_a_persona_recommendation_comes_before_the_stock_one() -> None:
    p = planner("roleplay", character="a waiter", setting="a cafe")
    talk(p, "Hello.")
    assert "river" not in talk(p, "What do you recommend for lunch?")[0]


@pytest.mark.parametrize(
    "line",
    [
        "Juan, stop kicking my chair, I'm trying to talk to the machine.",
        "Sorry, one second, my classmate needs a pen.",
    ],
)
def test_a_line_to_a_classmate_is_an_aside(line: str) -> None:
    assert understand(line, CONTENT).act == Act.ASIDE


@pytest.mark.parametrize(
    "line",
    [
        "Sorry, brake pads and what? You're speaking a bit fast for me.",
        "Sorry, was that a yes or a no? My friend was talking to me.",
        "Sorry, where? I don't understand.",
    ],
)
def test_a_short_clarifying_question_is_a_request_to_repeat(line: str) -> None:
    assert understand(line, CONTENT).act == Act.REPEAT


def test_play_again_mid_game_reveals_and_just_after_a_new_one_does_not() -> None:
    p = planner("guess", level="A1")
    secret = p.state.secret
    assert secret is not None
    talk(p, "Is it big?")
    plan = p.plan("Ha, nice one. Let's play again, but this time make it harder.")
    assert plan.move == Move.REVEAL and secret.name in plan.text
    p.commit(plan, plan.text)
    again = p.plan("Let's play again!")
    assert p.state.secret is not None and p.state.secret.name not in again.text


def test_a_line_that_names_the_hero_gives_the_story_no_new_thing() -> None:
    p = planner("story", level="A1")
    reply = talk(p, "There is a small dog. His name is Biscuit.")[0]
    assert "the small dog" not in reply


def test_which_matters_more_gets_a_side() -> None:
    p = planner("conversation", level="B2")
    talk(p, "Hi, I'm Diego.")
    reply = talk(p, "Which do you think matters more, winning or just having fun?")[0]
    assert "I'd say winning" in reply


def test_after_i_already_told_you_the_interview_asks_one_question() -> None:
    p = planner("interview", level="B1")
    talk(p, "Good morning, I'm Piotr.")
    reply = talk(p, "I already told you, five years. Before that I was a driver.")[0]
    assert reply.count("?") == 1


def test_the_box_never_promises_that_something_is_safe() -> None:
    p = planner("roleplay", character="a mechanic", setting="a garage")
    talk(p, "Hello, my brakes are grinding.")
    reply = talk(p, "Is it safe to drive, or should I leave it here with you?")[0]
    assert "not sure it's safe" in reply and "Yes" not in reply


def test_a_shared_answer_fits_any_question_of_the_turn() -> None:
    p = planner("story", level="B1")
    talk(p, "A girl called Mia meets a stranger on a train.")
    reply = talk(p, "You choose: is he telling the truth, or is he lying to her? And why?")[0]
    assert "I think he is telling the truth" in reply


def test_a_cinema_ticket_seller_is_not_the_stations() -> None:
    assert CONTENT.character_for("a cinema ticket seller", "a cinema").id != "station"
    assert CONTENT.character_for("a ticket seller", "a small railway station").id == "station"


def test_the_pharmacist_answers_in_role() -> None:
    p = planner("roleplay", character="a pharmacist", setting="a chemist's")
    talk(p, "Hello. I have a sore throat.")
    reply = talk(p, "What can I take? I don't want it make me sleepy, I have work.")[0]
    assert "don't make you sleepy" in reply


def test_a_question_about_the_characters_evenings_is_not_its_job_title() -> None:
    p = planner("roleplay", character="a lighthouse keeper", setting="a lighthouse")
    talk(p, "Hello!")
    assert "I'm a lighthouse keeper" not in talk(p, "What do you do in the evenings?")[0]


def test_play_again_right_after_a_reveal_starts_without_a_replay() -> None:
    p = planner("guess", level="A1")
    talk(p, "Is it big?", "I give up. What is it?")
    plan = p.plan("Again! Play again please.")
    assert plan.move != Move.REPEAT and "It was" not in plan.text


def test_a_choice_asked_with_does_she_is_said_back_without_it() -> None:
    p = planner("story", level="B1")
    talk(p, "An old woman finds a letter on her door.")
    reply = talk(p, "You decide: does she open it straight away or wait for her daughter?")[0]
    assert "better to open it straight away" in reply


def test_an_aside_about_a_minute_is_not_a_scene_in_a_minute() -> None:
    p = planner("improv")
    talk(p, "Can we do a restaurant?")
    reply = talk(p, "Hold on, Marco says it's his turn now. Hey, you can have it in a minute.")[0]
    assert "in a minute" not in reply


# --- answers in any role, and the other kinds of failure found in the eleventh set ---


@pytest.mark.parametrize(
    ("lines", "price"),
    [
        (("I want apples please.", "How much is it?"), "two euros a kilo"),
        (("I want apples please.", "How much is it? I have ten pounds."), "two pounds a kilo"),
        (("Three oranges, please.", "How much all together?"), "eight euros altogether"),
        (("I'd like an appointment for a check-up.", "How much does it cost?"), "forty euros"),
        (("Hello. I want a jacket.", "How much is it?"), "forty-five euros"),
        (("Hello!", "How much is it?"), "ten euros"),
    ],
)
def test_a_price_in_any_role_is_for_the_thing_named_in_the_students_money(lines, price) -> None:
    p = planner("roleplay", character="a seller", setting="a stall")
    assert price in talk(p, *lines)[-1]


def test_a_character_with_price_answers_needs_a_price(tmp_path, monkeypatch) -> None:
    import shutil

    import appliance.lessons.content as content_module

    source = Path(content_module.__file__).parent / "data" / "en"
    language = tmp_path / "en"
    shutil.copytree(source, language)
    roles = language / "roleplay.toml"
    text = roles.read_text(encoding="utf-8").replace(
        'price = "That\'s ten {currency}, please."\n', ""
    )
    roles.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PARLO_LANGUAGES", str(tmp_path))
    load_content.cache_clear()
    try:
        with pytest.raises(LanguageDataError, match=r"en/roleplay.toml:\d+: .*needs price"):
            load_content("en")
    finally:
        load_content.cache_clear()


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("Do I need to bring anything, like my passport or a form?", "Just your passport"),
        ("What should I bring?", "some ID"),
        (
            "Actually, is Thursday morning better? Because my boss is away.",
            "Thursday morning is fine",
        ),
        ("Is it possible today? I work until five o'clock.", "today is fine"),
        ("Do I pay a deposit now or when I collect it?", "pay at the end"),
        ("Can I pay by card?", "by card or in cash"),
        ("When would it be ready? I need it on Thursday morning.", "ready on Thursday"),
        ("Can I take photos in here?", "no flash"),
        ("What do you do in the evenings?", "read a good book"),
    ],
)
def test_a_question_in_any_role_gets_a_concrete_answer(line: str, said: str) -> None:
    p = planner("roleplay", level="B1", character="a receptionist", setting="an office")
    talk(p, "Hello.")
    assert said in talk(p, line)[0]


def test_a_time_word_in_a_question_that_is_not_about_a_time_is_not_taken_as_one() -> None:
    p = planner("roleplay", level="B1", character="a vet", setting="an animal clinic")
    reply = talk(p, "Can you just give him some medicine and I'll see how he is tomorrow?")[0]
    assert "is fine" not in reply


def test_a_thing_the_student_says_no_to_is_not_asked_for() -> None:
    p = planner("roleplay", level="A1", character="a fruit seller", setting="a market")
    talk(p, "Hello. I want apples please.")
    reply = talk(p, "No, no bananas. I want oranges. Three oranges.")[0]
    assert "bananas" not in reply.lower() and "Three oranges" in reply


def test_a_number_said_with_the_thing_is_not_asked_again() -> None:
    p = planner("roleplay", level="B1", character="a ticket seller", setting="a cinema")
    reply = talk(p, "Hi, two tickets for the fox film, please.")[0]
    assert "How many" not in reply


def test_an_answer_asked_again_in_easier_words_is_said_again() -> None:
    p = planner("roleplay", level="B1", character="a receptionist", setting="a dentist's")
    talk(p, "Hello, I'd like an appointment.", "How much does a check-up cost?")
    assert "forty euros" in talk(p, "Sorry, could you say that again with easier words?")[0]


def test_the_story_hero_comes_from_its_opening_lines_only() -> None:
    p = planner("story", level="B2")
    replies = talk(
        p,
        "Let's start: the lighthouse keeper hadn't seen anyone for six weeks when a letter came.",
        "The envelope was addressed to him, but the stamp was from 1953.",
        "Inside there was only one line: don't turn on the light tonight.",
    )
    assert "the lighthouse keeper" in replies[0]
    assert not any("the envelope heard" in r or "did the envelope" in r for r in replies)


def test_the_box_decides_where_the_hero_is_when_asked() -> None:
    p = planner("story", level="A2")
    talk(p, "One day a little boy called Omar loses his dog in the park.")
    assert "I think the dog is" in talk(p, "You decide. Where is the dog?")[0]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("Can you give it a twist ending? Then we'll stop, the bell rang.", "it was all a dream"),
        ("Give it an ending, but please not a happy one.", "alone again"),
    ],
)
def test_an_ending_is_the_kind_asked_for(line: str, said: str) -> None:
    p = planner("story", level="B2", seed=1)
    talk(p, "A girl called Mia found an old key.")
    plan = p.plan(line)
    assert plan.move == Move.ENDING
    assert said in plan.text or "a test" in plan.text


def test_i_dont_know_what_happens_next_in_a_story_gets_an_idea() -> None:
    p = planner("story", level="A2")
    talk(p, "One day a little boy called Omar loses his dog.")
    plan = p.plan("I don't know what happen next. Help me please")
    assert plan.move == Move.ENCOURAGE


@pytest.mark.parametrize(
    ("line", "twist"),
    [
        (
            "Can we do a scene in a lift? Two people are stuck between floors",
            "two people are stuck",
        ),
        ("Let's do a live TV cooking show where everything goes wrong", "everything goes wrong"),
    ],
)
def test_an_improv_scene_keeps_the_students_own_premise(line: str, twist: str) -> None:
    assert twist in talk(planner("improv", level="B1"), line)[0]


def test_improv_gives_a_twist_and_an_idea_when_asked_and_ends_on_cut() -> None:
    p = planner("improv", level="B1")
    talk(p, "Can we do a scene at the hotel?")
    twist = p.plan("Can you add a twist? Something surprising")
    place_twists = CONTENT.improv.places[[p.keys for p in CONTENT.improv.places].index(("hotel",))]
    assert twist.move == Move.IN_SCENE
    assert any(t in twist.text for t in place_twists.twists)
    p.commit(twist, twist.text)
    idea = talk(p, "Oh no, the lift is broken. Quick, improvise something, what do we do?")[0]
    assert idea.startswith(("I know!", "Quick", "Don't worry"))
    end = p.plan("Cut! That was funny. Which bit worked best? I have to stop now.")
    assert end.move == Move.GOODBYE
    assert any(line in end.text for line in CONTENT.improv.review)


def test_again_right_after_a_reveal_is_a_new_game_and_mid_game_a_repeat() -> None:
    p = planner("guess", level="A1")
    talk(p, "Is it big?", "I give up. What is it?")
    fresh = p.plan("Again! One more time please")
    assert fresh.move != Move.REPEAT and "It was" not in fresh.text
    p.commit(fresh, fresh.text)
    talk(p, "Is it an animal?")
    assert p.plan("Again please").move == Move.REPEAT


def test_the_guessing_game_keeps_its_roles_and_a_win_must_be_earned() -> None:
    p = planner("guess", level="A1")
    talk(p, "Is it an animal?")
    assert (
        "in this game, I think of a thing" in talk(p, "Now I think of a thing and you ask me!")[0]
    )
    assert "Not yet" in talk(p, "Yes! I win!")[0]
    assert "Not yet" not in talk(p, "Is it a ruler? I win!")[0]


@pytest.mark.parametrize(
    ("line", "age"),
    [
        ("I'm thirty-four and I've just quit my job.", "thirty-four"),
        ("I have fifteen years old.", "fifteen"),
    ],
)
def test_an_age_is_heard_whole(line: str, age: str) -> None:
    assert understand(line, CONTENT).age.lower() == age


def test_a_question_about_the_boxs_taste_is_asked_back_but_not_every_time() -> None:
    p = planner("conversation", level="B1")
    talk(p, "Hi, I'm Rosa.")
    first = talk(p, "What's your favourite season?")[0]
    assert first.endswith(("What about you?", "And you?", "How about you?"))
    second = talk(p, "If you could play any sport, which one would you pick?")[0]
    assert not second.endswith(("What about you?", "And you?", "How about you?"))


def test_how_long_someone_has_lived_somewhere_is_not_asked_when_they_said_it() -> None:
    p = planner("conversation", level="A2")
    reply = talk(p, "Hi, I am Mateus. Now I live in Manchester for six months.")[0]
    assert "How long" not in reply


def test_after_a_repeat_an_aside_does_not_bring_the_question_a_third_time() -> None:
    p = planner("conversation", level="A1", seed=1)
    first = talk(p, "Do you like bread?")[0]
    asked = first.rsplit("!", 1)[-1].strip()
    talk(p, "Sorry, again please. Slowly")
    assert asked not in talk(p, "Teacher, how I say banh mi in English? Okay, sandwich")[0]


def test_an_answer_that_fits_a_later_interview_question_answers_it() -> None:
    p = planner("interview", level="A2")
    replies = talk(
        p,
        "Hello, I am Priya. I am here for the job in the cafe.",
        "I worked in my uncle's restaurant for two years.",
        "I can work in the morning and on Sunday. Not Friday, I have English class.",
        "I am friendly.",
        "I want to learn.",
        "I like people.",
    )
    assert not any("When can you work?" in reply for reply in replies[2:])


@pytest.mark.parametrize(
    ("line", "move"),
    [
        ("Hmm, a difficult customer. I don't know, can I think for a moment?", Move.WAIT),
        ("I don't know. Can you ask another question, please?", Move.STEP),
        ("Sorry, I don't understand. What is shift?", Move.EXPLAIN),
    ],
)
def test_interview_classroom_moves(line: str, move: Move) -> None:
    p = planner("interview", level="A2")
    talk(p, "Hello, I am Ahmad.")
    plan = p.plan(line)
    assert plan.move == move
    if move == Move.WAIT:
        assert "?" not in plan.text  # no new question while they think


def test_what_is_mean_asks_for_the_question_in_easier_words() -> None:
    p = planner("interview", level="A2")
    talk(p, "Hello, I am Ahmad.", "I worked in a shop.")
    plan = p.plan("Sorry, I don't understand the question. What is mean?")
    assert plan.move == Move.REPEAT and "mean" not in plan.text


def test_a_new_person_in_the_story_gets_a_beat_about_a_person() -> None:
    p = planner("story", level="A2")
    talk(p, "One day a little boy called Omar loses his dog in the park.")
    reply = talk(p, "But the dog is eating ice cream with a policeman! Haha")[0]
    beats = [b.text for b in CONTENT.story.person_beats["simple"]]
    # The words of a person beat between its slots: " smiled and said hello to ".
    assert any(b.split("}")[1].split("{")[0].strip(" .") in reply for b in beats)
    assert "took the policeman" not in reply and "policeman started to move" not in reply


def test_a_view_asked_for_in_a_conversation_is_given_and_asked_back() -> None:
    p = planner("conversation", level="B2")
    talk(p, "Hi, I'm Marek. I work in IT.")
    both = talk(p, "Do you think governments should help more, or is it up to charities?")[0]
    assert both.startswith(CONTENT.classroom.lines["opinion_both"])
    assert both.endswith(CONTENT.classroom.lines["opinion_ask_back"])
    heard = talk(p, "I see your point, but I think charities can't do it alone.")[0]
    assert heard.startswith(("That's a good point!", "Good point."))


@pytest.mark.parametrize(
    "line", ["Anyway, I need to get back to work. Nice chatting!", "It was nice talking, see you."]
)
def test_more_ways_to_say_goodbye(line: str) -> None:
    assert understand(line, CONTENT).act == Act.GOODBYE


@pytest.mark.parametrize(
    ("name", "question", "yes"),
    [
        ("an apple", "Is it a kind of food?", True),
        ("an apple", "Is it food?", True),
        ("a banana", "Is it long?", True),
        ("a banana", "Is it round?", False),
        ("a guitar", "Is it expensive?", True),
        ("a spoon", "Is it electronic?", False),
        ("a ball", "Is it for sport?", True),
        ("an umbrella", "Is it something you'd normally find outdoors?", True),
    ],
)
def test_the_guessing_game_knows_what_learners_ask(name: str, question: str, yes: bool) -> None:
    from appliance.lessons.activities import true_answer

    secret = next(
        s for s in (*CONTENT.guess.objects, *CONTENT.guess.simple_objects) if s.name == name
    )
    assert true_answer(secret, question) is yes


@pytest.mark.parametrize(
    ("line", "question"),
    [
        ("is it big", "is it big"),
        ("to the city centre how much is it", "how much is it"),
        ("and you what music do you like", "what music do you like"),
        ("I think I know is it an umbrella", "is it an umbrella"),
        ("what's the monthly rent exactly and are the bills included or not", None),
        ("erm can I eat it", None),
    ],
)
def test_a_question_left_without_its_mark_is_still_a_question(line: str, question) -> None:
    heard = understand(line, CONTENT)
    assert heard.act in (Act.QUESTION, Act.REQUEST)
    assert heard.question == (question or line)


@pytest.mark.parametrize(
    "line",
    [
        "I don't know what time it is",
        "the cat is black",
        "my mother is the teacher",
        "I see your point, but I think charities can't do it alone.",
        "Wait, my phone... is my boss. She always call on my free day.",
        "this is it",
    ],
)
def test_a_statement_without_a_mark_is_not_taken_for_a_question(line: str) -> None:
    assert understand(line, CONTENT).question == ""


def test_an_improv_scene_from_roles_alone_keeps_them() -> None:
    reply = talk(planner("improv", level="A2"), "ok you are a robot and I am your new owner")[0]
    assert "you are my new owner, and I am a robot" in reply
    assert "But" not in reply  # the role is not a twist


def test_an_improv_idea_is_taken_up_unless_the_student_takes_it_back() -> None:
    p = planner("improv", level="B1")
    talk(p, "let's do a scene where we are two astronauts on the space station")
    assert talk(p, "hmm what if the voice is coming from Earth")[0] in CONTENT.improv.accept
    back = talk(p, "maybe we could use the water from the plants no wait that's a terrible idea")
    assert back[0] in CONTENT.improv.retracted


def test_a_story_twist_or_a_lighter_turn_is_the_kind_asked_for() -> None:
    p = planner("story", level="B2")
    talk(p, "let's write a story about a delivery rider called Marco")
    twist = p.plan("can you add a twist something nobody would expect")
    assert any(fill_free(b) in twist.text for b in CONTENT.story.twist_beats)
    p.commit(twist, twist.text)
    lighter = p.plan("that's a bit too dark let's make it lighter")
    assert any(fill_free(b) in lighter.text for b in CONTENT.story.funny_beats)


def fill_free(text: str) -> str:
    """The longest stretch of ``text`` with no {slot} in it."""
    import re as _re

    return max(_re.split(r"\{\w+\}", text), key=len).strip()


def test_the_students_own_ending_is_said_back() -> None:
    p = planner("story", level="B2")
    talk(p, "let's write a story about a delivery rider called Marco")
    plan = p.plan("let's end it with the lights coming back on and Marco is almost disappointed")
    assert plan.move == Move.ENDING and "the lights coming back on" in plan.text


def test_either_or_in_the_guessing_game_gets_the_true_side() -> None:
    apple = next(s for s in CONTENT.guess.simple_objects if s.name == "an apple")
    p = TurnPlanner(CONTENT, "guess", "A2", seed=1, secret=apple)
    assert "small" in talk(p, "is it big or small")[0]


def test_the_last_guess_of_a_turn_is_the_one_answered() -> None:
    apple = next(s for s in CONTENT.guess.simple_objects if s.name == "an apple")
    p = TurnPlanner(CONTENT, "guess", "A2", seed=1, secret=apple)
    assert "not a ruler" in talk(p, "hmm is it a pen no wait is it a ruler")[0]
    assert "not a cup" in talk(p, "hmm is it a... cup? no. I don't know")[0]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("no no not so short please stop", "I'm so sorry"),
        ("ok I'll think it over and get back to you by Friday", "take your time"),
        ("I have the receipt but I left the box at home is that a problem", "not a problem"),
        ("great and do I have to transfer my photos myself or can you do it here", "do it for you"),
        ("I noticed some damp on the ceiling has the landlord done anything about that", "fix it"),
        ("how much does it cost to send it and how long will it take", "three or four days"),
    ],
)
def test_a_role_answers_what_a_person_in_it_would(line: str, said: str) -> None:
    p = planner("roleplay", level="B1", character="a clerk", setting="an office")
    talk(p, "Hello.")
    assert said in talk(p, line)[0]


def test_an_improv_scene_of_two_of_the_same_keeps_the_students_twist() -> None:
    reply = talk(
        planner("improv", level="B2"),
        "Let's do a scene: we're neighbours and your tree has been dropping leaves on my garden.",
    )[0]
    assert "we are neighbours" in reply and "my tree has been dropping leaves" in reply


def test_an_improv_ending_the_student_asks_for_is_played() -> None:
    p = planner("improv", level="B2")
    talk(p, "Let's do a scene: we're neighbours and your tree drops leaves on my garden.")
    plan = p.plan(
        "Okay, that's brilliant. Can you give the scene an ending where we become friends?"
    )
    assert plan.move == Move.GOODBYE and "we become friends" in plan.text


def test_the_story_hero_is_the_person_who_finds_the_thing() -> None:
    p = planner("story", level="B1")
    replies = talk(
        p,
        "It starts with a woman who finds an old letter under the floor of her new apartment.",
        "the letter is from 1962 and it is addressed to someone called anna",
    )
    assert "the woman" in replies[1] and "the letter heard" not in replies[1]


def test_a_name_in_lower_case_is_a_name() -> None:
    assert understand("hello my name is joana i am from brazil", CONTENT).name == "Joana"


def test_a_number_with_a_thing_is_said_back_in_the_plural() -> None:
    p = planner("roleplay", level="A1", character="a ticket seller", setting="a zoo")
    reply = talk(p, "two ticket please. one adult one child")[0]
    assert "Two tickets" in reply and "Two ticket," not in reply


def test_a_driving_school_receptionist_is_not_the_class_teacher() -> None:
    character = CONTENT.character_for("a receptionist at a driving school", "a driving school")
    assert character.id != "school"


# --- from the sixteenth set's kinds of failure ---


@pytest.mark.parametrize(
    ("line", "word"),
    [
        ("what is cereal", "cereal"),
        ("what do you mean by gentrification exactly is it the same thing", "gentrification"),
        ("erm sorry what means placement test", "placement test"),
        ("Sorry, can you repeat the question? What is 'shift'?", "shift"),
        ("what is the meaning of melt", "melt"),
    ],
)
def test_a_word_asked_about_as_speech_recognition_writes_it_is_explained(
    line: str, word: str
) -> None:
    plan = planner("conversation", level="B1").plan(line)
    assert plan.move == Move.EXPLAIN and plan.text.lower().startswith(
        (word, f"a {word}", f"to {word}")
    ), plan.text
    assert not plan.fallback


@pytest.mark.parametrize("line", ["what is wrong", "what do you mean by that", "what's next"])
def test_what_is_wrong_is_no_word_to_explain(line: str) -> None:
    assert planner("conversation").plan(line).move != Move.EXPLAIN


def test_a_hint_tells_a_bit_more_each_time_and_then_says_there_are_no_more() -> None:
    p = planner("guess", level="A1")
    hints = p.state.secret.hints
    assert len(hints) >= 2
    replies = talk(p, "Is it big?", *["give me a hint please"] * (len(hints) + 1))[1:]
    for hint, reply in zip(hints, replies, strict=False):
        assert hint in reply
    assert not any(hint in replies[-1] for hint in hints)
    assert "last hint" in replies[-1]


def test_a_guess_then_thinking_aloud_is_answered_as_the_guess() -> None:
    p = planner("guess", level="B2")
    name = p.state.secret.name.split()[-1]
    wrong = "thermometer" if name != "thermometer" else "kettle"
    plan = p.plan(f"is it a {wrong} i feel like it has to be a {wrong}")
    assert plan.text.startswith(f"No, it is not a {wrong}."), plan.text


def test_giving_up_and_asking_to_swap_reveals_first() -> None:
    p = planner("guess", level="B2")
    talk(p, "Is it big?")
    secret = p.state.secret.name
    plan = p.plan("Fine, I give up, what was it? And this time I think of something and you guess.")
    assert plan.move == Move.REVEAL and secret in plan.text and "I think of a thing" in plan.text


@pytest.mark.parametrize(
    "line",
    [
        "hello we play the guess game you think of one thing ok",
        "Okay, I'm ready. Think of something and I'll try to guess it.",
    ],
)
def test_starting_the_game_in_a_learners_words_gets_the_game_started(line: str) -> None:
    assert "I am thinking of something" in planner("guess").plan(line).text


def test_ready_and_a_question_in_one_unpunctuated_turn_answers_the_question() -> None:
    plan = planner("guess").plan("alright I'm ready is it something you can find at home")
    assert plan.move == Move.ANSWER and "thinking of something" not in plan.text


def test_a_place_the_object_has_no_fact_for_is_a_no() -> None:
    p = planner("guess", level="A1")
    assert p.plan("Is it in the office?").text.startswith("No!")


def test_a_lower_case_name_after_called_is_the_storys_hero() -> None:
    p = planner("story", level="B1")
    reply = p.plan("okay i start a girl called marta finds an old camera in a shop").text
    assert "Marta" in reply and "dragon" not in reply


def test_the_story_told_back_has_the_students_lines_and_the_boxs_beats_in_order() -> None:
    p = planner("story", level="B1")
    lines = (
        "okay i start a girl called marta finds an old camera in a second hand shop",
        "She takes the film to develop it, and in the photos there is her grandmother.",
        "wait what did you say can you repeat",
        "So she decides to go to that village by bus.",
    )
    replies = talk(p, *lines)
    told = p.plan("can we read the whole story from the beginning").text
    assert told.index("A girl called Marta finds") < told.index("She takes the film")
    assert told.index("She takes the film") < told.index("She decides to go")
    assert "repeat" not in told and "okay i start" not in told.lower()
    beat = re.split(r"(?<=[.!?])\s+", replies[0])[1]  # the box's own sentence after it
    assert beat in told


def test_the_roles_the_student_gives_in_lower_case_are_the_scenes_roles() -> None:
    plan = planner("improv", level="B1").plan(
        "okay let's do an improv you are a penguin and you are lost at a ski resort "
        "and i am the ski instructor"
    )
    assert "You are the ski instructor, and I am a penguin" in plan.text
    assert "But you are the ski instructor" not in plan.text


def test_a_question_in_a_scene_is_answered_in_play_not_like_a_help_desk() -> None:
    p = planner("improv", level="B1")
    talk(p, "You are a robot and I am your new owner.")
    reply = p.plan("Where is the kitchen, robot?").text
    assert "on the left" not in reply and "Let me check" not in reply


def test_the_partners_character_has_a_name_when_asked() -> None:
    p = planner("improv", level="B2")
    talk(p, "I'm a tour guide in a haunted castle and you're a tourist.")
    assert "Sam" in p.plan("Sorry, I've lost the thread. What's your character called again?").text


def test_and_scene_ends_the_scene() -> None:
    p = planner("improv", level="B2")
    talk(p, "I'm a tour guide in a haunted castle and you're a tourist.")
    assert p.plan("And... scene! That was brilliant.").move == Move.GOODBYE


@pytest.mark.parametrize(
    "line",
    [
        "Erm... for breakfast I eat bread with tomato. And you?",
        "for breakfast i eat bread with tomato and you",
    ],
)
def test_and_you_after_telling_is_answered_on_what_was_told(line: str) -> None:
    p = planner("conversation", level="A1")
    talk(p, "Hello, my name is Lucia.")
    plan = p.plan(line)
    assert plan.act == Act.QUESTION and "don't know" not in plan.text
    assert re.search(r"\b(?:pasta|pizza|eat|food|love)\b", plan.reaction, re.I), plan.reaction


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("Would it be possible to just get a refund?", "money back"),
        ("ok is possible to pay in two times", "half now"),
        ("Or maybe you could deliver it for free?", "deliver it for free"),
        ("What days is the course? Because I work until six o'clock.", "Mondays"),
        ("how long will it take for the money to come back into my account", "working days"),
    ],
)
def test_a_service_desk_answers_the_everyday_requests(line: str, answer: str) -> None:
    p = planner("roleplay", level="B2", character="a receptionist", setting="a front desk")
    talk(p, "Hello.")
    assert answer in p.plan(line).text


def test_a_clause_in_a_long_thought_is_not_a_question() -> None:
    line = (
        "well the main problem is that the rents went up a lot because many flats became "
        "short term rentals for tourists so young people cannot afford to live in the centre"
    )
    assert understand(line, CONTENT).act == Act.STATEMENT
    assert understand("to the city centre how much is it", CONTENT).question == "how much is it"


# --- from the eighteenth set's kinds of failure ---


def test_a_new_question_after_a_request_to_slow_down_is_answered() -> None:
    heard = understand(
        "sorry could you speak more slowly please what is the name of this test", CONTENT
    )
    assert heard.act == Act.QUESTION and heard.question == "what is the name of this test"
    assert understand("Sorry, can you say that again more slowly?", CONTENT).act == Act.REPEAT


@pytest.mark.parametrize(
    "line",
    [
        "what do you mean it is not a real talent my grandmother believes me",
        "hmm that is a difficult question let me think my weakness is that i say yes to everybody",
        "Yes, I have done many times. When teachers cannot connect to the projector, they call me.",
        "Minecraft and... erm... how you say... car game. Mario Kart!",
    ],
)
def test_telling_that_looks_like_asking_is_telling(line: str) -> None:
    heard = understand(line, CONTENT)
    assert heard.act != Act.REPEAT and not heard.question, heard


def test_what_is_a_word_then_i_dont_know_this_word_is_a_word_question() -> None:
    plan = planner("story").plan("what is hatch i don't know this word")
    assert plan.move == Move.EXPLAIN and plan.text.startswith("To hatch")


def test_a_pause_and_a_filler_inside_a_guessing_question_are_left_out() -> None:
    p = planner("guess", level="A1")
    fact = answering_fact(p.state.secret, "Is it soft?")
    assert fact is not None
    reply = p.plan("Is it... erm... soft?").text
    assert fact in reply


def test_a_corrected_guess_is_the_guess_answered() -> None:
    p = planner("guess", level="B2")
    assert (
        "not a swing" in p.plan("hmm is it a bench... no wait, a swing? like in a playground").text
    )


def test_a_comparison_with_a_car_is_no_question_about_cars() -> None:
    p = planner("guess", level="B2")
    assert "for a car" not in p.plan("is it bigger than a car").text


def test_a_bare_hint_please_gets_a_hint() -> None:
    p = planner("guess", level="A1")
    assert p.state.secret.hints[0] in p.plan("hint please").text


def test_a_learners_present_tense_still_names_the_storys_hero() -> None:
    assert story_hero("one day a boy go to the forest") == "the boy"


def test_the_students_own_last_line_ends_the_story() -> None:
    p = planner("story", level="B2")
    talk(p, "A girl called Deniz lands on Earth after three years in space.")
    plan = p.plan("in the end she decides to stay because her little sister is there")
    assert plan.move == Move.ENDING and "she decides to stay" in plan.text


def test_bye_scene_finish_ends_the_improv_scene() -> None:
    p = planner("improv")
    talk(p, "We are in a pet shop. I am the customer and you are a parrot.")
    plan = p.plan("OK, I take you home. Bye, scene finish.")
    assert plan.move == Move.GOODBYE and "Here is the scene" not in plan.text


def test_how_are_you_in_a_scene_is_answered_as_such() -> None:
    p = planner("improv")
    talk(p, "We are in a pet shop. I am the customer and you are a parrot.")
    assert "well" in p.plan("hello mister parrot how are you today").text


def test_a_count_told_earlier_is_not_asked_again() -> None:
    p = planner(
        "roleplay", character="a ticket seller", setting="the ticket office of a theme park"
    )
    talk(p, "Hello. I want two tickets please, for me and my brother.")
    reply = p.plan("how much is the ticket for children he is eleven").text
    assert "half price" in reply and "How many tickets" not in reply


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        (
            "and if it rains do we have a plan b because i don't want my grandmother in the mud",
            "tent",
        ),
        ("Is next September realistic, or is it too soon?", "realistic"),
        ("OK. Is possible to pay with card? Thank you very much, bye!", "by card"),
    ],
)
def test_more_everyday_requests_are_answered_in_role(line: str, answer: str) -> None:
    p = planner("roleplay", level="B2", character="a wedding planner", setting="an office")
    talk(p, "Hello.")
    assert answer in p.plan(line).text


def test_dont_you_think_gets_the_boxs_view() -> None:
    p = planner("conversation", level="B2")
    talk(p, "Hi.")
    plan = p.plan("It's the employer who should pay them properly, don't you think?")
    assert "not sure" not in plan.text.lower()


# --- from the nineteenth set's kinds of failure ---


def test_the_student_who_says_i_start_is_let_start() -> None:
    p = planner("story", level="B1")
    plan = p.plan("Let's make a story about a village where it never stops raining. Okay, I start.")
    assert "you start" in plan.text and "dragon" not in plan.text


def test_a_change_asked_for_in_the_story_is_taken() -> None:
    p = planner("story", level="B1")
    talk(p, "A girl called Paloma finds a painting of the sun.")
    plan = p.plan(
        "I don't like that part. Can we change it? Maybe she meets someone who helps her."
    )
    assert "change it" in plan.text and "she meets someone who helps her" in plan.text


def test_the_title_the_student_gives_is_taken() -> None:
    p = planner("story", level="B1")
    talk(p, "A girl called Paloma finds a painting of the sun.")
    text = p.plan(
        "That's a nice end. Can we give the story a title? I say 'The Girl Who Found the Sun'."
    ).text
    assert "The Girl Who Found the Sun" in text and "slept well" not in text


def test_roles_without_articles_are_the_scenes_roles() -> None:
    plan = planner("improv", level="B1").plan(
        "You are fortune teller with crystal ball and I am customer who is very nervous. Go!"
    )
    assert "you are a customer, and I am a fortune teller" in plan.text


def test_what_about_a_thing_in_the_scene_is_no_new_scene() -> None:
    p = planner("improv", level="B2")
    talk(p, "I'm a detective, and you're the main suspect at the office party.")
    plan = p.plan("and what about the chocolate on your tie is that also a coincidence")
    assert plan.move == Move.IN_SCENE


def test_an_unpunctuated_where_were_you_in_a_scene_is_played() -> None:
    p = planner("improv", level="B2")
    talk(p, "I'm a detective, and you're the main suspect at the office party.")
    reply = p.plan(
        "sit down please so where were you yesterday between three and half past three"
    ).text
    assert "I was" in reply


def test_a_guess_said_as_a_thing_alone_is_a_guess() -> None:
    p = planner("guess", level="A1")
    assert p.plan("a balloon").text.startswith("No, it is not a balloon")
    p = planner("guess", level="B1")
    assert "not a receipt" in p.plan("Is it a bus ticket? No? Then a receipt from the shop?").text


def test_one_more_after_a_reveal_in_a_later_sentence_is_a_new_game() -> None:
    p = planner("guess", level="B1")
    talk(p, "Is it big?", "ok i give up what is it")
    plan = p.plan("Ah, really? I didn't think of that. Okay, one more, but something easier.")
    assert "thinking of something" in plan.text


def test_a_friends_question_told_to_the_box_is_answered() -> None:
    heard = understand(
        "wait my friend is saying something she asks if we can take photos inside", CONTENT
    )
    assert heard.question == "can we take photos inside?"


def test_a_birthday_in_march_is_not_today() -> None:
    p = planner("conversation", level="A1")
    talk(p, "Hello, my name is Linh.")
    assert "Happy birthday" not in p.plan("my birthday is in march the twelve").text


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("I pay with card. Is okay?", "card is fine"),
        ("Okay, what if we agree on something like music until ten on weekdays?", "sounds fair"),
    ],
)
def test_a_scene_partner_takes_a_fair_offer(line: str, answer: str) -> None:
    p = planner("roleplay", level="B2", character="a neighbour", setting="a block of flats")
    talk(p, "Good evening.")
    assert answer in p.plan(line).text


# --- from the twentieth set's kinds of failure ---


def test_hi_is_greeted_and_a_name_said_later_is_greeted_too() -> None:
    p = planner("conversation", level="A1")
    hello, named = talk(p, "Hi.", "My name is Ana.")
    assert hello.startswith(("Hello!", "Hi there!")) and not hello.startswith("Good!")
    assert "Ana" in named


def test_a_price_asked_with_a_line_about_the_end_is_said_not_left_as_a_slot() -> None:
    p = planner(
        "roleplay", level="B1", character="a plumber", setting="a kitchen with a leaking sink"
    )
    talk(p, "Hello, the problem is here, under the sink.")
    plan = p.plan("And how much will it cost, approximately? I don't want a surprise at the end.")
    assert "{price}" not in plan.text and plan.move != Move.GOODBYE


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("and notebook have you notebook", "we have"),
        ("Okay, fine, do it. Would you like a coffee while you work?", "very kind"),
        ("Somewhere with a beach. Maybe Turkey or Greece? What you are suggesting?", "recommend"),
    ],
)
def test_a_scene_partner_answers_these_in_role(line: str, answer: str) -> None:
    p = planner("roleplay", level="A2", character="an assistant", setting="a shop")
    talk(p, "Hello.")
    text = p.plan(line).text
    assert answer in text and "Small or large" not in text


def test_two_friends_in_an_escape_room_is_the_scene_said_back() -> None:
    plan = planner("improv", level="B1").plan(
        "Let's do improv. We are two friends in an escape room and we have only ten minutes left."
    )
    assert "two friends in an escape room" in plan.text


def test_now_the_lights_go_off_is_no_new_scene() -> None:
    p = planner("improv", level="B1")
    talk(p, "We are two friends in an escape room.", "quick look under the carpet")
    assert p.plan("Oh no. You pushed it! Now the lights are going off!").move == Move.IN_SCENE


def test_a_guess_and_a_hint_in_one_turn_get_both() -> None:
    p = planner("guess", level="A2")
    text = p.plan("Hmm... is it a bicycle? No? Okay. Can you give me a hint?").text
    assert "not a bicycle" in text and p.state.secret.hints[0] in text


def test_one_morning_a_boy_wake_up_is_the_students_story() -> None:
    plan = planner("story", level="A2").plan(
        "Ok, I start. One morning a boy wake up and he is very, very small, like a mouse."
    )
    assert "dragon" not in plan.text and "the boy" in plan.text


def test_a_long_yes_tells_and_a_tag_question_asks_for_a_view() -> None:
    assert (
        understand("Yes, I sent it back, but they are still not giving me the money.", CONTENT).act
        == Act.STATEMENT
    )
    heard = understand(
        "often they just do the same hours in less days so it's not really a shorter week is it",
        CONTENT,
    )
    assert heard.opinion_yes


# --- from the twenty-first set's kinds of failure ---


def test_stop_and_swap_in_one_turn_swaps() -> None:
    p = planner("improv", level="B1")
    talk(p, "ok let's do a scene i am a king and you are my servant in the park")
    plan = p.plan(
        "ok stop that was fun can we change and now you are the king and i am the servant"
    )
    assert plan.move == Move.SCENE and "I am the king" in plan.text


def test_lets_stop_there_with_a_later_wish_ends_the_scene() -> None:
    p = planner("improv", level="B2")
    talk(p, "you're a famous chicken and I'm a journalist at the press conference")
    plan = p.plan("Okay, let's stop there. Can we do another one later where I'm the chicken?")
    assert plan.move == Move.GOODBYE


def test_why_did_you_is_no_yes_or_no_question() -> None:
    heard = understand(
        "and the question everybody is asking is why did you cross the road", CONTENT
    )
    assert heard.question.lower().startswith("why")


def test_the_heros_name_in_lower_case_after_his_name_is() -> None:
    p = planner("story", level="A2")
    assert "Pico" in p.plan("once upon a time there was a small dragon his name is pico").text


def test_we_should_finish_with_their_ending_ends_the_story() -> None:
    p = planner("story", level="B1")
    talk(p, "A fisherman called Joao goes to an island that appears only on Tuesdays.")
    plan = p.plan(
        "I think we should finish: he decides to stay, because he feels at home. "
        "What do you think, is it a good ending?"
    )
    assert plan.move == Move.ENDING and "he decides to stay" in plan.text


def test_today_we_talk_about_the_weekend_takes_the_topic() -> None:
    p = planner("conversation", level="A1")
    talk(p, "hello my name is senait")
    assert (
        "talk about weekend"
        in p.plan("Yes. Today we talk about weekend? Teacher say weekend.").text
    )


def test_thanks_in_a_scene_is_answered_as_thanks() -> None:
    p = planner("roleplay", level="A2", character="an attendant", setting="a launderette")
    talk(p, "hi excuse me the machine number four is not working")
    assert "welcome" in p.plan("ah ok it's open now thank you").text


def test_a_helper_who_does_not_know_finds_out() -> None:
    p = planner(
        "roleplay", level="B2", character="an advisor", setting="a university admissions office"
    )
    talk(p, "Good afternoon.")
    text = p.plan("Would I lose my scholarship if I defer?").text
    assert "not sure" not in text.lower() and "don't know" not in text.lower()


def test_can_i_start_starts_the_guessing_game() -> None:
    assert "thinking of something" in planner("guess").plan("can i start with the questions").text


# --- from the seventeenth set's judged failures (read after it was measured) ---


@pytest.mark.parametrize(
    "line",
    [
        "Okay, I must go now, my bus is coming. Thank you, it was nice to talk.",
        "that's a fair point i'll think about it thanks this was useful talk to you next time",
    ],
)
def test_these_goodbyes_are_goodbyes(line: str) -> None:
    assert understand(line, CONTENT).act == Act.GOODBYE


def test_a_quoted_phrase_is_the_phrase_asked_about() -> None:
    plan = planner("interview", level="A2").plan("Sorry, what mean 'food hygiene certificate'?")
    assert plan.move == Move.EXPLAIN and plan.text.startswith("A food hygiene certificate")


def test_a_choice_in_a_scene_is_not_answered_yes() -> None:
    p = planner("roleplay", level="B1", character="an officer", setting="a registration office")
    talk(p, "Good morning.")
    text = p.plan("Do you need the original or is a copy enough?").text
    assert not text.startswith("Yes") and "Either" in text


def test_a_learners_error_after_i_need_is_not_said_back() -> None:
    p = planner("roleplay", level="A1", character="an attendant", setting="a swimming pool")
    talk(p, "Hello, one ticket please.")
    assert "you bring towel" not in p.plan("i need a towel or i bring towel").text


def test_a_repeat_with_a_word_in_it_is_a_repeat() -> None:
    heard = understand(
        "Sorry, could you repeat the last part? You said something about 'accessibility'?", CONTENT
    )
    assert heard.act == Act.REPEAT


def test_an_a1_worker_is_asked_about_work() -> None:
    p = planner("conversation", level="A1")
    assert "job" in p.plan("Hello. My name is Karim. I am work in a factory.").text


def test_two_rival_ice_sculptors_are_the_scene() -> None:
    plan = planner("improv", level="B2").plan(
        "We're two rival ice sculptors at a winter festival, the final is in one hour."
    )
    assert "two rival ice sculptors" in plan.text


def test_stepping_out_of_the_scene_is_no_new_scene() -> None:
    p = planner("improv", level="B2")
    talk(p, "We're two rival ice sculptors at a winter festival.")
    plan = p.plan(
        "Wait, sorry, stepping out of the scene for a second: what's the word? Okay, back in."
    )
    assert "Here is the scene" not in plan.text


def test_one_of_a_kind_or_a_question_in_play_is_no_choice() -> None:
    p = planner("roleplay", level="B1", character="a form teacher", setting="a parents' evening")
    talk(p, "Good evening.")
    text = p.plan("Is there some club or after-school activity where he could meet people?").text
    assert "Either" not in text and "Both are OK" not in text
    q = planner("improv", level="B1")
    talk(q, "You are a talking statue in the park and I am a tourist.")
    assert "Either" not in q.plan("The statue is speaking! Are you real person or stone?").text


def test_a_word_in_both_glossaries_is_an_error_that_names_it(tmp_path, monkeypatch):
    import shutil

    english = Path(__file__).resolve().parents[1] / "appliance/lessons/data/en"
    shutil.copytree(english, tmp_path / "xx")
    glossary = tmp_path / "xx" / "glossary.toml"
    glossary.write_text(
        glossary.read_text(encoding="utf-8") + 'hygiene = "Hygiene is being clean."\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PARLO_LANGUAGES", str(tmp_path))
    load_content.cache_clear()
    try:
        with pytest.raises(LanguageDataError, match=r"xx/glossary.toml:\d+: .*hygiene"):
            load_content("xx")
    finally:
        load_content.cache_clear()


@pytest.mark.parametrize(
    ("line", "word"),
    [
        (
            "what does it mean parallel parking my instructor say it every lesson",
            "parallel parking",
        ),
        ("wait what is it puddle", "puddle"),
        ("sorry what is a mentor scheme is it with a teacher or with other student", "mentor"),
    ],
)
def test_a_word_asked_about_loosely_is_explained_when_the_glossary_has_it(line, word):
    (reply,) = talk(planner("conversation", "B1"), line)
    assert reply.lower().startswith(("a " + word, word)), reply


@pytest.mark.parametrize("line", ["What is the salary?", "what is the time", "What is mean?"])
def test_a_question_about_a_thing_is_not_a_word_to_explain(line):
    plan = planner("interview", "B1").plan(line)
    assert plan.move != Move.EXPLAIN, plan.text


def test_after_a_word_the_open_question_comes_back_marked_and_a_vague_one_does_not():
    parlo = planner("interview", "B1", seed=1)
    first, explained = talk(parlo, "Good morning, I am here for the job.", "What is hedge?")
    asked = re.findall(r"[^.!?]*\?", first)[-1].strip()
    assert explained.startswith("A hedge is") and explained.endswith(asked)
    assert "back to my question" in explained, "the word was not in the question"
    game = planner("guess", "A1")
    talk(game, "Is it big?")
    (plug,) = talk(game, "what is plug")
    assert "?" not in plug, "the guessing game's prompt is no question to ask again"


def test_a_request_to_repeat_that_opens_a_long_turn_is_a_request():
    line = (
        "could you repeat the question please i think you asked how i would deal with a "
        "customer who thinks it is too expensive is that right"
    )
    assert len(line.split()) > 24
    assert understand(line, CONTENT).act == Act.REPEAT
    told = "I was in the car and then again the man said the same thing to me, so I waited."
    assert understand(told + " " + told, CONTENT).act != Act.REPEAT


def test_a_ticket_seller_at_a_boat_kiosk_sells_no_train_tickets():
    boat = planner("roleplay", "A1", character="a ticket seller", setting="a kiosk for boat trips")
    assert not any("train" in r or "platform" in r for r in talk(boat, "hi", "what time boat go"))
    station = planner("roleplay", "A1", character="a ticket seller", setting="")
    assert CONTENT.character_for("a ticket seller").id == "station"
    assert station.plan("hello").text
    parents = CONTENT.character_for("a form teacher", "a parents' evening at a secondary school")
    assert parents.id != "school"


def test_a_students_ending_is_said_back_only_when_the_box_can_say_it_well():
    story = planner("story", "A2")
    talk(story, "a girl called bia has new running shoes")
    (mistaken,) = talk(story, "and at the end bia win a gold medal and she go home by taxi")
    assert "she go" not in mistaken and "The end" in mistaken
    story = planner("story", "B1")
    talk(story, "a boy called tom finds a map")
    (good,) = talk(story, "in the end tom finds the treasure and shares it with his friends")
    assert "tom finds the treasure" in good.lower()


def test_the_box_takes_the_trait_the_student_gives_it_in_a_scene():
    (scene,) = talk(
        planner("improv", "B1"),
        "I am a driver, you are the satnav in my car, but you are very confused",
    )
    assert "I am very confused" in scene and scene.endswith("Action!")
    (plain,) = talk(
        planner("improv", "A2"), "you are a statue in the city centre and i am a tourist"
    )
    assert "You are a tourist, and I am a statue" in plain and "But" not in plain


def test_a_question_to_the_character_is_answered_in_play():
    scene = planner("improv", "A2")
    talk(scene, "you are a statue in the city centre and i am a tourist")
    real, old, bored = talk(
        scene, "Are you real person or stone?", "how old are you", "You are not bored?"
    )
    assert "stone" in real and "old" in old and "bored? Never" in bored
    assert len({real, old, bored}) == 3


def test_a_long_turn_is_asked_about_the_subject_the_student_brought():
    parlo = planner("conversation", "B1", seed=1)
    _, about = talk(
        parlo,
        "Today I want to talk about driving, because I am learning to drive now.",
        "In Iran my husband always drove, so I never needed it, but here the buses on "
        "Sunday are terrible, only one every hour, and I work on Sundays.",
    )
    assert "about driving?" in about, about


def test_a_booking_is_looked_up_by_name_and_the_name_is_thanked_for_not_greeted_again():
    desk = planner("roleplay", "A2", character="a clerk", setting="a car rental desk")
    asked, named = talk(desk, "hello I have reservation for a car", "my name is Paolo Rossi")
    assert asked.endswith("Can I have your name, please?")
    assert named.startswith("Thank you, Paolo!") and "Nice to meet you" not in named
    found = planner("roleplay", "A2", character="a receptionist", setting="a bowling alley")
    (reply,) = talk(found, "Yes, we have booking. It's under the name Adebayo.")
    assert "booking" in reply and "your name" not in reply
    chat = planner("conversation", "A1", seed=1)
    talk(chat, "Hi.")
    assert "I have it here" not in talk(chat, "My name is Ana.")[0], "no booking in a chat"


def test_someone_asking_for_information_is_asked_what_they_want_to_know():
    studio = planner("roleplay", "B1", character="a receptionist", setting="a yoga studio")
    (reply,) = talk(studio, "Hi, I'd like some information about your classes")
    assert reply.endswith("What would you like to know?")


def test_the_story_goes_on_from_the_students_own_line():
    story = planner("story", "A2")
    _, sad, dog, name = talk(
        story,
        "ok I start. there is a little robot in a big city",
        "the robot is very sad because he has no friends",
        "one day he see a dog in the park",
        "what is the dog name",
    )
    assert "friendly voice" in sad, "a lonely hero meets someone"
    assert "the dog" in dog.split("!", 1)[1], "the new one in the story is in the beat"
    assert name.startswith("Let's call the dog"), "the box names them when asked"


def test_the_interviewer_greets_an_applicant_and_does_not_ask_for_questions_twice():
    interview = planner("interview", "B2", seed=1)
    replies = talk(
        interview,
        "Good afternoon. I'm applying for the junior accountant position.",
        "I did an internship at an audit firm.",
        "I am patient and careful.",
        "I am sometimes too slow.",
        "I can start next month.",
        "Would there be training?",
        "Because I like numbers.",
        "I'd rather not say my salary.",
        "Thank you, I look forward to hearing from you.",
    )
    assert "Interesting" not in replies[0]
    # "Any other questions?" after an answer is fine; "any questions for me?" after it
    # asks the same again.
    other = next((i for i, r in enumerate(replies) if "other questions" in r), len(replies))
    assert not any("questions for me" in r for r in replies[other:]), replies
    assert "Goodbye" in replies[-1]


def test_every_glossary_explanation_passes_the_classroom_filter():
    from appliance.lessons.safety import ClassroomFilter

    word_filter = ClassroomFilter()
    blocked = {w: t for w, t in CONTENT.classroom.glossary.items() if word_filter.blocks(t)}
    assert not blocked, "a blocked word would turn the explanation into the filter's fallback"
    assert len(CONTENT.classroom.glossary) > 3000


def test_a_material_asked_as_an_adjective_is_answered_truly():
    from dataclasses import replace as with_fields

    objects = {o.name: o for o in (*CONTENT.guess.simple_objects, *CONTENT.guess.objects)}
    for name, expected in (("a pencil", "Yes!"), ("a cup", "No!")):
        game = planner("guess", "B1")
        game.state = with_fields(game.state, secret=objects[name])
        answer = game.plan("is it wooden").text
        assert answer.startswith(expected) and "wooden" not in answer, (name, answer)


def test_a_guess_of_a_thing_its_facts_compare_with_is_a_guess():
    from dataclasses import replace as with_fields

    banana = next(o for o in CONTENT.guess.simple_objects if o.name == "a banana")
    game = planner("guess", "A1")
    game.state = with_fields(game.state, secret=banana)
    assert game.plan("is it a phone no a remote control").text.startswith("No, it is not a")
    assert game.plan("is it bigger than a phone").text.startswith("Yes! It is bigger than")
