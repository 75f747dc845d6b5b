from __future__ import annotations

from tutorial_kit.local_search import Document, load_corpus, search, terms


def doc(doc_id: str, title: str, content: str) -> Document:
    return Document(doc_id, title, f"local://{doc_id}", "2026-01-01", content)


def test_terms_cover_english_words_and_chinese_pairs() -> None:
    assert terms("Stream=True 流式输出") == ["stream", "true", "流式", "式输", "输出"]


def test_best_match_first_and_labelled_by_rank() -> None:
    documents = [
        doc("a", "快速排序", "快速排序选一个枢轴"),
        doc("b", "流式输出", "stream 逐块推送"),
        doc("c", "其他", "与查询无关的文字"),
    ]
    hits = search("怎样用 stream 做流式输出", documents)
    assert [hit.document.id for hit in hits] == ["b"]
    assert hits[0].refer == "ref_1"


def test_rare_terms_weigh_more_than_common_ones() -> None:
    documents = [doc("x", "密钥", "密钥 地域 北京"), doc("y", "密钥", "密钥 密钥 密钥")]
    assert search("北京的密钥", documents)[0].document.id == "x"


def test_no_match_gives_no_hits_and_limit_is_kept() -> None:
    corpus = load_corpus()
    assert search("zzzz", corpus) == []
    assert len(search("API Key 地域 密钥 流式 工具", corpus, limit=2)) == 2


def test_the_shipped_corpus_answers_the_lesson_question() -> None:
    hits = search("北京的 API Key 能在新加坡用吗？", load_corpus())
    assert hits[0].document.id == "regions"
