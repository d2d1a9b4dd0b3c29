"""Self-refine: answer, ask for feedback on the answer, rewrite it with the feedback; repeat.

The first answer comes from the inner model (so ``self-refine+cot`` refines a CoT answer);
feedback and rewrites come from the plain model at the bottom of the chain, greedy,
within the request's token budget. A round whose feedback says the answer is already
correct ("NO ISSUES") ends the loop for that question.

>>> from syllabus.llm.fake import ScriptedLLM
>>> llm = ScriptedLLM(["The answer is 5.", "3 + 4 is 7, not 5.", "3 + 4 = 7. The answer is 7."])
>>> g = SelfRefine(llm, rounds=1).generate([GenerateRequest.chat([{"role": "user", "content": "3+4?"}])])[0]
>>> g.text, g.requests
('3 + 4 = 7. The answer is 7.', 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from syllabus.errors import ConfigError
from syllabus.llm.base import GenerateRequest
from syllabus.methods.base import Method, MethodGeneration, Spent, last_user_text, with_params

__all__ = ["SelfRefine"]

FEEDBACK_TEMPLATE = (
    "Here is a task and an answer to it. Check the answer step by step and point out every mistake "
    "(wrong arithmetic, a misread condition, a missing part, a wrong format). If the answer is "
    "correct and complete, reply with exactly: NO ISSUES.\n\nTask:\n{question}\n\nAnswer:\n{answer}\n\nFeedback:"
)
REFINE_TEMPLATE = (
    "{question}\n\nA previous answer was:\n{answer}\n\nFeedback on it:\n{feedback}\n\n"
    "Write an improved answer that fixes the problems named in the feedback. Give only the answer, "
    "in the format the task asks for."
)
DONE_MARKER = "NO ISSUES"


@dataclass
class SelfRefineOptions:
    """rounds: feedback-and-rewrite rounds at most; feedback_tokens: budget of each feedback."""

    rounds: int = 2
    feedback_tokens: int = 128


class SelfRefine(Method):
    """Self-refine (feedback then refine, up to ``rounds`` times)."""

    name = "self-refine"
    Options = SelfRefineOptions

    def validate(self) -> None:
        if self.options.rounds < 0 or self.options.feedback_tokens < 1:
            raise ConfigError("self-refine: rounds must be >= 0 and feedback_tokens >= 1")

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        first = self.inner.generate(requests)
        inner = [g.trace if isinstance(g, MethodGeneration) else {} for g in first]
        spent = [Spent().add(g) for g in first]
        texts = [g.text for g in first]
        finish = [g.finish_reason for g in first]
        history: list[list[str]] = [[] for _ in requests]
        active = list(range(len(requests)))
        for _ in range(self.options.rounds):
            if not active:
                break
            questions = {i: last_user_text(requests[i]) for i in active}
            feedback = self.base.generate([
                GenerateRequest.chat(
                    [{"role": "user", "content": FEEDBACK_TEMPLATE.format(question=questions[i], answer=texts[i])}],
                    max_tokens=self.options.feedback_tokens, temperature=0.0,
                )
                for i in active
            ])
            still = []
            for i, fb in zip(active, feedback, strict=True):
                spent[i].add(fb)
                history[i].append(fb.text)
                if DONE_MARKER.lower() not in fb.text.lower():
                    still.append(i)
            if not still:
                break
            rewrites = self.base.generate([
                with_params(
                    GenerateRequest.chat([{"role": "user", "content": REFINE_TEMPLATE.format(
                        question=questions[i], answer=texts[i], feedback=history[i][-1])}]),
                    **{**requests[i].params.to_dict(), "stop": requests[i].params.stop, "temperature": 0.0},
                )
                for i in still
            ])
            for i, g in zip(still, rewrites, strict=True):
                spent[i].add(g)
                texts[i], finish[i] = g.text, g.finish_reason
            active = still
        return [
            s.generation(t, self.model_id, finish_reason=f, feedback=h, **({"inner": tr} if tr else {}))
            for s, t, f, h, tr in zip(spent, texts, finish, history, inner, strict=True)
        ]
