# tests/eval/fixture.sh: a tiny SentencePiece model for the needle tests, trained on the
# default haystack (Debian's GPL-3 text) and the needle and question templates, digits split.
#   . tests/eval/fixture.sh; eval_tokenizer DIR NAME VOCAB   -> DIR/NAME.model
eval_tokenizer() {
    local dir=$1 name=$2 vocab=$3 c
    {
        cat /usr/share/common-licenses/GPL-3
        for c in Lisbon Nairobi Oslo Lima Hanoi Quito Dakar Perth Tromso Cusco Accra Tbilisi \
            Valparaiso Bergen Kyoto Porto Zagreb Tallinn Mombasa Hobart Bilbao Cordoba Gdansk \
            Tangier Aarhus Kandy Windhoek Ushuaia Nantes Leipzig Izmir Recife Suva Bologna Split \
            Graz Harbin Cebu Asmara Galway; do
            echo "The special magic $c number is: 0123456789. What is the special magic $c number?"
            echo "What are the special magic numbers for $c, $c and $c?"
        done
    } >"$dir/$name-corpus.txt"
    spm_train --input="$dir/$name-corpus.txt" --model_prefix="$dir/$name" --vocab_size="$vocab" \
        --split_digits=true --character_coverage=1.0 --hard_vocab_limit=false \
        --minloglevel=2 >/dev/null 2>&1
}
