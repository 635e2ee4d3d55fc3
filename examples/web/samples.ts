// Texts the demo page offers to pick. Written for the demo: names a model cannot know in
// advance, each coming back again and again, which the FWL head learns as it reads.

/** Sample texts by title. */
export const SAMPLES: Record<string, string> = {
  "The lighthouse keepers":
    `Old Quorvath kept the lighthouse on Skellmoor with his niece Bryndalee. Every evening Quorvath climbed the stairs, and every evening Bryndalee carried the oil behind him. The ships that passed Skellmoor knew the light of Quorvath and the songs of Bryndalee.

One winter a stranger named Tavishrune came to Skellmoor in a small grey boat. Tavishrune said he had come to learn the light. Quorvath did not trust him, but Bryndalee gave Tavishrune bread and a blanket. At night Tavishrune watched Quorvath climb the stairs, and at dawn Tavishrune watched Bryndalee clean the great lens.

When the storm came, Quorvath fell on the stairs. Bryndalee ran for the oil, and Tavishrune ran for the lamp. Together Bryndalee and Tavishrune kept the light of Skellmoor burning until morning, and the ships came home. Quorvath laughed from his bed and said that Skellmoor now had two keepers. In spring Tavishrune did not leave. He and Bryndalee still keep the light, and the sailors say the lamp of Skellmoor has never been brighter.`,
  "A market day":
    `Mirelda sold plums at the market of Dunhaven, and Osgrimble sold pears beside her. Each morning Mirelda set out her plums and Osgrimble set out his pears. The children of Dunhaven bought plums from Mirelda and pears from Osgrimble, and everyone said the market of Dunhaven was the best in the valley.

One day a merchant called Pellawick arrived with a cart of golden apples. Pellawick shouted louder than Mirelda and Osgrimble together. The children ran to Pellawick, and Mirelda and Osgrimble sold nothing. So Mirelda made plum jam, and Osgrimble made pear cake, and they gave a spoon of jam and a slice of cake to every child. The children came back to Mirelda and Osgrimble. Pellawick watched, then bought a jar of jam from Mirelda and a cake from Osgrimble, and the next week Pellawick sold apple pies at the market of Dunhaven beside them.`,
};
