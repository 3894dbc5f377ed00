# ruff: noqa: E501  (the student lines are quoted whole, as the seventh set has them)
"""Can SmolLM2 answer, in role, the questions the planner has no fact for? Twelve from the
seventh set (python bench/model_answers.py). Read the answers: one of twelve was usable."""

import time

from appliance.app.wiring import current_model_set
from appliance.speech.llm import LocalLlm

ms = current_model_set()
llm = LocalLlm(ms.file("llm"), threads=2, context_tokens=512)
cases = [
    (
        "a pharmacist",
        "a chemist's on a busy high street",
        "Hello. I have headache. You have medicine for head?",
    ),
    (
        "a lost-property officer",
        "the lost-property office at a big train station",
        "Do I have to pay for get my bag back? I think this is not fair, is not my fault.",
    ),
    (
        "a lost-property officer",
        "the lost-property office at a big train station",
        "My friend say in this station they have a very good cafe with cheap cake. Is true?",
    ),
    (
        "a vet",
        "a small animal clinic in town",
        "Wait, do you mean I should give him the medicine before or after he eats? Because he isn't eating, that's the whole problem.",
    ),
    (
        "an estate agent",
        "showing a two-bedroom flat to rent above a shop",
        "What's actually included in the rent? The advert said eleven hundred a month, but it didn't mention whether heating and internet are part of that.",
    ),
    (
        "a job interviewer at a zoo",
        "a job interview for a zookeeper",
        "Do I need to clean the elephants? And how much you pay for one hour?",
    ),
    (
        "a job interviewer at a bus company",
        "a job interview for a bus driver",
        "The advert mentioned split shifts, and I'm not totally sure what that involves in practice. How does it work here?",
    ),
    (
        "a job interviewer at a bus company",
        "a job interview for a bus driver",
        "Why do you think so many drivers leave the company after the first year?",
    ),
    (
        "a friendly conversation partner",
        "a language class",
        "Do you think people should be allowed to keep bees in the city?",
    ),
    (
        "a dentist",
        "an improv scene at a dentist's, but the dentist is scared of teeth",
        "Why you are shaking? You are the doctor!",
    ),
    ("a vet", "a small animal clinic in town", "How much does a check-up cost?"),
    (
        "a pharmacist",
        "a chemist's on a busy high street",
        "How many times in one day I must take it?",
    ),
]
for who, where, q in cases:
    msgs = [
        {
            "role": "system",
            "content": f"You are {who} in {where}. Answer the customer's question in one short, friendly, true-sounding sentence, in your role. Give a concrete answer. Never say you don't know.",
        },
        {"role": "user", "content": q},
    ]
    t = time.perf_counter()
    out = "".join(llm.stream(msgs, 40, lambda: False, temperature=0.3, max_seconds=10))
    print(f"[{(time.perf_counter() - t) * 1000:.0f} ms] {q[:60]}\n   -> {out.strip()}")
